//! Output stage: Parquet files (with atomic writes), the `run_info` table, the human summary,
//! text tables and the HTML report.

pub mod html;
pub mod parquet;
pub mod run_info;
pub mod summary;
pub mod text;
