//! `spanlens queries list|show` and `spanlens schema`: the SQL spanlens runs and the span table
//! it runs on, printed for users to read and reuse.

use crate::cli::QueriesCommand;
use crate::commands::write_stdout;
use crate::error::Result;
use crate::model::schema::schema_markdown;
use crate::queries::{self, QUERIES};

/// Run `queries list` or `queries show NAME`.
pub fn run(command: &QueriesCommand) -> Result<u8> {
    match command {
        QueriesCommand::List => {
            let width = QUERIES.iter().map(|q| q.name.len()).max().unwrap_or(0);
            let text: String = QUERIES.iter().map(|q| format!("{:width$}  {}\n", q.name, q.summary())).collect();
            write_stdout(text.as_bytes())?;
        }
        QueriesCommand::Show { name } => write_stdout(queries::get(name)?.sql.as_bytes())?,
    }
    Ok(0)
}

/// Run `schema`: the span table schema as Markdown.
pub fn schema() -> Result<u8> {
    write_stdout(schema_markdown().as_bytes())?;
    Ok(0)
}
