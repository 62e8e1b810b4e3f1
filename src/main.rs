//! The `spanlens` binary: parse the command line, run it, print any error chain to stderr and
//! map it to the exit code (0 success, 1 an SLO breached, 2 error).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let cli = spanlens::cli::Cli::parse();
    match spanlens::commands::run(cli, command_line) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let (red, bold, reset) = if color { ("\x1b[31m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
            eprintln!("{bold}{red}error{reset}: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            if let Some(hint) = err.hint() {
                eprintln!("{bold}hint{reset}: {hint}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
