//! `spanlens completions SHELL` and `spanlens man`: shell completion scripts and man pages,
//! generated from the command-line definitions, so they never drift from the CLI.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::commands::write_stdout;
use crate::error::{Error, Result};
use crate::output::write_atomic;

/// Print the completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "spanlens", &mut script);
    write_stdout(&script)?;
    Ok(0)
}

/// The man page of `cmd`, named `name`.
fn man_page(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| Error::output("<man page>", e))?;
    Ok(page)
}

/// Print spanlens(1), or write it and one page per command to `--out`.
pub fn man(args: &ManArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(dir) = &args.out else {
        write_stdout(&man_page(cmd)?)?;
        return Ok(0);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    let write = |name: &str, page: Vec<u8>| write_atomic(&dir.join(format!("{name}.1")), &page);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("spanlens-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(format!("spanlens {}", sub.get_name()));
        write(&name, man_page(sub)?)?;
    }
    write("spanlens", man_page(cmd)?)?;
    print_written(dir);
    Ok(0)
}

/// `wrote DIR` on stderr.
fn print_written(dir: &Path) {
    eprintln!("wrote man pages to {}", dir.display());
}
