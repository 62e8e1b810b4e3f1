//! Output stage: the `run_info` table, the human summary, text tables and the report (its content
//! rendered as HTML and as Markdown): what the commands' results look like to people and tools.
//! Writing files is [`crate::output`]'s.

pub mod content;
pub mod graph;
pub mod html;
pub mod markdown;
pub mod run_info;
pub mod slo_table;
pub mod summary;
pub mod text;
