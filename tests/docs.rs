//! The documentation cannot drift from the CLI: every `spanlens COMMAND` and every `--flag` the
//! README and the pages of `docs/` show exist in the binary's `--help` (of that command, where
//! the line names one).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::spanlens;

/// The README and every page of `docs/`, with their paths.
fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    paths.extend(pages);
    paths.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap())).collect()
}

/// The pieces of `text` that are code: the lines of fenced blocks and the inline code spans.
fn code(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_string());
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let Some(inline) = parts.next() {
            out.push(inline.to_string());
            parts.next();
        }
    }
    out
}

/// The `--flags` of a piece of a command line (letters, digits and dashes after `--`).
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let after = &rest[at + 2..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(after.len());
        let starts_word = at == 0 || rest[..at].ends_with([' ', '(', '[', '|', '/', '`']);
        if starts_word && len > 0 && after.as_bytes()[0].is_ascii_alphabetic() {
            out.push(format!("--{}", &after[..len]));
        }
        rest = &after[len..];
    }
    out
}

#[test]
fn every_documented_command_and_flag_exists() {
    let top = String::from_utf8(spanlens().arg("--help").assert().success().get_output().stdout.clone()).unwrap();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    // The help of a command, or of `COMMAND SUBCOMMAND` (`cluster scheduler`) given as one.
    let mut help_of = |command: &str| -> Option<String> {
        if let Some(h) = helps.get(command) {
            return Some(h.clone());
        }
        let out = spanlens().args(command.split(' ')).arg("--help").output().unwrap();
        let help = out.status.success().then(|| String::from_utf8(out.stdout).unwrap())?;
        helps.insert(command.to_string(), help.clone());
        Some(help)
    };
    let (mut commands_seen, mut flags_seen) = (0, 0);
    let mut problems = Vec::new();
    for (path, text) in documents() {
        for piece in code(&text) {
            // A spanlens command line: `spanlens CMD ...` or `cargo run --release -- CMD ...`.
            let line = match (piece.find("spanlens "), piece.find("cargo run --release -- ")) {
                (_, Some(at)) => Some(&piece[at + "cargo run --release -- ".len()..]),
                (Some(at), None) if piece[..at].trim().is_empty() || piece[..at].ends_with(['|', '(', ' ']) => {
                    Some(&piece[at + "spanlens ".len()..])
                }
                _ => None,
            };
            match line {
                Some(line) => {
                    let words: Vec<&str> = line.split_whitespace().filter(|w| !w.starts_with("--")).collect();
                    let Some(command) = words.first().filter(|w| w.chars().all(|c| c.is_ascii_lowercase())) else {
                        continue;
                    };
                    // A subcommand's own flags are in its help (`cluster executor --help`).
                    let sub = words.get(1).filter(|w| w.chars().all(|c| c.is_ascii_lowercase()));
                    let nested = sub.map(|s| format!("{command} {s}")).and_then(|c| help_of(&c));
                    let Some(help) = nested.or_else(|| help_of(command)) else {
                        problems.push(format!("{path}: `spanlens {command}` is not a command: {piece}"));
                        continue;
                    };
                    commands_seen += 1;
                    for flag in flags(line) {
                        flags_seen += 1;
                        if flag != "--help"
                            && !help.contains(&format!("{flag} "))
                            && !help.contains(&format!("{flag}\n"))
                            && !help.contains(&format!("{flag}="))
                            && !help.contains(&format!("{flag},"))
                        {
                            problems.push(format!("{path}: `spanlens {command}` has no {flag}: {piece}"));
                        }
                    }
                }
                // A flag named on its own in prose: some command must have it.
                None if piece.trim_start().starts_with("--") => {
                    for flag in flags(&piece) {
                        flags_seen += 1;
                        let known = top.contains(&flag)
                            || [
                                "demo",
                                "ingest",
                                "metrics",
                                "slo",
                                "report",
                                "gen",
                                "sql",
                                "completions",
                                "man",
                                "cluster scheduler",
                                "cluster executor",
                            ]
                            .iter()
                            .any(|c| help_of(c).is_some_and(|h| h.contains(&flag)));
                        if !known {
                            problems.push(format!("{path}: no command has {flag}: {piece}"));
                        }
                    }
                }
                None => {}
            }
        }
    }
    assert!(problems.is_empty(), "the docs name what the CLI does not have:\n{}", problems.join("\n"));
    assert!(commands_seen >= 10 && flags_seen >= 20, "the check saw {commands_seen} commands, {flags_seen} flags");
}

#[test]
fn the_flag_reader_reads_flags() {
    assert_eq!(
        flags("spanlens metrics a --out b --from=x [--force] --no-data bad -- --9"),
        ["--out", "--from", "--force", "--no-data"]
    );
    assert_eq!(code("a `spanlens x --y` b\n```\nspanlens z\n```\n"), ["spanlens x --y", "spanlens z"]);
}
