//! Output stage: the `run_info` table, the human summary, text tables and the HTML report: what
//! the commands' results look like to people and tools. Writing files is [`crate::output`]'s.

pub mod graph;
pub mod html;
pub mod run_info;
pub mod slo_table;
pub mod summary;
pub mod text;
