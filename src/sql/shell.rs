//! The interactive shell of `spanlens sql`: line editing and persistent history (rustyline),
//! statements that end with `;` across lines, the backslash commands (`\d`, `\d NAME`, `\df`,
//! `\timing`, `\q`) and `help`, and Ctrl-C, which cancels a running query and returns to the
//! prompt. Statements run through the same [`Engine`] as `-e` and `-f`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use rustyline::error::ReadlineError;

use crate::error::{Error, Result};
use crate::sql::functions::FUNCTIONS;
use crate::sql::output::{Sink, Stdout};
use crate::sql::split::ends_statement;
use crate::sql::{Engine, OnDemand, Printer, Script};

const PROMPT: &str = "spanlens> ";
const MORE: &str = "       -> ";

const HELP: &str = "\
Statements end with ; and may span lines. Tables: \\d; columns of one: \\d NAME.
  \\d              list the tables (those computed on demand are made when a statement names them)
  \\d NAME         the columns of NAME and their types
  \\df             spanlens's functions (DataFusion's built-in functions work too)
  \\timing         print each statement's time (on/off)
  \\q              quit (also Ctrl-D, quit, exit)
  help functions  the same as \\df
Ctrl-C cancels a running query, or clears the statement being typed.
";

/// Where history is kept: `$SPANLENS_HISTORY`, else `~/.spanlens_history`; none without a home.
fn history_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPANLENS_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".spanlens_history"))
}

/// The write end of the pipe the SIGINT handler writes to while a query runs; -1 otherwise.
static INTERRUPT_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = INTERRUPT_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) on a pipe is async-signal-safe; the byte only wakes the reader.
        unsafe {
            libc::write(fd, b"c".as_ptr().cast(), 1);
        }
    }
}

/// Ctrl-C caught for as long as it lives: SIGINT writes to a pipe whose reader thread resolves
/// [`CatchInterrupt::interrupted`], so a query busy on every worker thread is still dropped at
/// once. The previous disposition is put back when it is dropped. The prompt reads Ctrl-C
/// itself (the terminal is raw there), so only a running query needs this.
struct CatchInterrupt {
    previous: libc::sigaction,
    write_end: libc::c_int,
    pressed: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl CatchInterrupt {
    fn new() -> Option<Self> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe(2) fills the two descriptors it is given.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return None;
        }
        let (read_end, write_end) = (fds[0], fds[1]);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut byte = 0u8;
            // SAFETY: reads one byte into a local; the descriptor is this thread's to close.
            let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                let _ = tx.send(());
            }
            unsafe { libc::close(read_end) };
        });
        INTERRUPT_PIPE.store(write_end, Ordering::SeqCst);
        // SAFETY: sigaction with a zeroed, then filled, struct is the documented way to install a
        // handler; the handler only calls write(2), which is async-signal-safe.
        let previous = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &action, &mut previous);
            previous
        };
        Some(CatchInterrupt { previous, write_end, pressed: Some(rx) })
    }

    /// Resolves when Ctrl-C is pressed.
    async fn interrupted(&mut self) {
        let pressed = match self.pressed.take() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        if !pressed {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for CatchInterrupt {
    fn drop(&mut self) {
        INTERRUPT_PIPE.store(-1, Ordering::SeqCst);
        // SAFETY: puts back the disposition read when the guard was made; closing the write end
        // ends the reader thread.
        unsafe {
            libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut());
            libc::close(self.write_end);
        }
    }
}

/// What a line typed at an empty prompt asks for.
enum Command<'a> {
    Quit,
    Help,
    Functions,
    Tables,
    Columns(&'a str),
    Timing,
    Unknown(&'a str),
    Sql,
}

fn command(line: &str) -> Command<'_> {
    let line = line.trim();
    let bare = line.trim_end_matches(';').trim();
    match bare {
        "\\q" | "quit" | "exit" => return Command::Quit,
        "help" | "\\?" | "\\h" => return Command::Help,
        "\\df" | "help functions" => return Command::Functions,
        "\\d" => return Command::Tables,
        "\\timing" => return Command::Timing,
        _ => {}
    }
    match bare.strip_prefix("\\d ") {
        Some(name) => Command::Columns(name.trim()),
        None if line.starts_with('\\') => Command::Unknown(line),
        None => Command::Sql,
    }
}

/// Run the shell until `\q` or Ctrl-D.
pub fn run(engine: &Engine, on_demand: &mut dyn OnDemand, printer: &Printer) -> Result<()> {
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| Error::Config(format!("cannot start the shell: {e}")))?;
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "spanlens sql {}: statements end with ;, \\d lists the tables, help for more, \\q quits.",
        env!("CARGO_PKG_VERSION")
    );
    let mut timing = false;
    let mut buffer = String::new();
    let mut count = 0usize;
    loop {
        let line = match editor.readline(if buffer.is_empty() { PROMPT } else { MORE }) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Config(format!("cannot read the shell's input: {e}"))),
        };
        if buffer.is_empty() {
            match command(&line) {
                Command::Sql if line.trim().is_empty() => continue,
                Command::Sql => buffer.push_str(&line),
                Command::Quit => break,
                other => {
                    match other {
                        Command::Help => print(HELP),
                        Command::Functions => print(&functions_text()),
                        Command::Tables => report(tables_text(engine, on_demand)),
                        Command::Columns(name) => report(columns_text(engine, on_demand, name)),
                        Command::Timing => {
                            timing = !timing;
                            print(if timing { "Timing is on.\n" } else { "Timing is off.\n" });
                        }
                        Command::Unknown(what) => eprintln!("error: unknown command {what}; help lists the commands"),
                        Command::Sql | Command::Quit => {}
                    }
                    let _ = editor.add_history_entry(line.trim());
                    save(&mut editor, &history);
                    continue;
                }
            }
        } else {
            buffer.push('\n');
            buffer.push_str(&line);
        }
        if !ends_statement(&buffer) {
            continue;
        }
        let text = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(text.trim());
        save(&mut editor, &history);
        count += 1;
        run_text(engine, on_demand, printer, &Script { name: format!("input {count}"), text }, timing);
    }
    Ok(())
}

fn save(editor: &mut rustyline::DefaultEditor, history: &Option<PathBuf>) {
    if let Some(path) = history {
        let _ = editor.save_history(path);
    }
}

fn print(text: &str) {
    let _ = Stdout.put(text.as_bytes());
}

fn report(text: Result<String>) {
    match text {
        Ok(text) => print(&text),
        Err(e) => eprintln!("error: {}", chain(&e)),
    }
}

/// An error and its causes on one line.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Run the statements typed; an error is printed and the shell goes on. Ctrl-C drops the
/// running statement (and those after it).
fn run_text(engine: &Engine, on_demand: &mut dyn OnDemand, printer: &Printer, script: &Script, timing: bool) {
    let parsed = match engine.parse(script) {
        Ok(parsed) => parsed,
        Err(e) => return eprintln!("error: {}", chain(&e)),
    };
    for statement in &parsed {
        let started = Instant::now();
        if let Err(e) = engine.prepare(statement, on_demand) {
            return eprintln!("error: {}", chain(&e));
        }
        let mut stdout = Stdout;
        let result = match CatchInterrupt::new() {
            Some(mut guard) => engine.runtime.block_on(async {
                tokio::select! {
                    r = engine.print(statement, printer, &mut stdout) => Some(r),
                    () = guard.interrupted() => None,
                }
            }),
            None => Some(engine.runtime.block_on(engine.print(statement, printer, &mut stdout))),
        };
        match result {
            None => return eprintln!("cancelled: {}", statement.label),
            Some(Err(e)) => return eprintln!("error: {}", chain(&e)),
            Some(Ok(_)) => {}
        }
        if timing {
            eprintln!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
        }
    }
}

/// `\df`.
pub fn functions_text() -> String {
    let mut out = String::from("spanlens's functions (DataFusion's built-in SQL functions work too):\n\n");
    for f in FUNCTIONS {
        out.push_str(&format!("{}\n    {}\n    e.g. {}\n", f.signature, f.summary, f.example));
    }
    out
}

/// `\d`: the registered tables and those made on demand.
pub fn tables_text(engine: &Engine, on_demand: &dyn OnDemand) -> Result<String> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let catalog = engine.ctx.catalog("datafusion").ok_or_else(|| Error::Config("no default catalog".into()))?;
    let schema = catalog.schema("public").ok_or_else(|| Error::Config("no default schema".into()))?;
    let mut names = schema.table_names();
    names.sort();
    let on_demand_names = on_demand.names();
    for name in names {
        let what =
            on_demand_names.iter().find(|(n, _)| *n == name).map_or_else(|| "table".to_string(), |(_, w)| w.clone());
        rows.push((name, what));
    }
    for (name, what) in on_demand_names {
        if !rows.iter().any(|(n, _)| *n == name) {
            rows.push((name, format!("{what} (made when a statement names it)")));
        }
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(5);
    let mut out = format!("{:width$}  what\n", "table");
    for (name, what) in rows {
        out.push_str(&format!("{name:width$}  {what}\n"));
    }
    Ok(out)
}

/// `\d NAME`: the columns of a table, made first if it is made on demand.
pub fn columns_text(engine: &Engine, on_demand: &mut dyn OnDemand, name: &str) -> Result<String> {
    engine.make(name, on_demand)?;
    let table = engine
        .runtime
        .block_on(engine.ctx.table_provider(name))
        .map_err(|_| Error::Config(format!("no table {name}; \\d lists the tables")))?;
    let schema = table.schema();
    let width = schema.fields().iter().map(|f| f.name().len()).max().unwrap_or(0).max(6);
    let mut out = format!("{:width$}  type\n", "column");
    for f in schema.fields() {
        let null = if f.is_nullable() { "" } else { " not null" };
        out.push_str(&format!("{:width$}  {}{null}\n", f.name(), f.data_type()));
    }
    Ok(out)
}
