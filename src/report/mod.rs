//! Output stage: Parquet files (with atomic writes), the `run_info` table and the human summary.

pub mod parquet;
pub mod run_info;
pub mod summary;
pub mod text;
