//! Log output. On a terminal the lines are printed above the live progress
//! bars (so they never tear them); otherwise plain, timestamped lines.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::MultiProgress;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The progress bars, when stderr is a terminal. Log lines go through it.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The shared progress display, or `None` when stderr is not a terminal.
pub fn bars() -> Option<&'static MultiProgress> {
    BARS.get()
}

/// How much a run logs, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Only warnings and errors.
    Quiet,
    Info,
    /// Our debug messages.
    Verbose,
    /// Everyone's debug messages.
    Debug,
    /// Our trace messages, and the SQL text of the queries.
    Trace,
}

/// Set up logging once for the process. Later calls are ignored.
pub fn init(level: LogLevel) {
    // The tokio-postgres crate logs every statement at debug: noise for users,
    // wanted only at the most verbose level (the original logs SQL at TRACE).
    let level = match level {
        LogLevel::Quiet => "warn",
        LogLevel::Trace => "debug,pgcopydb=trace",
        LogLevel::Debug => "debug,tokio_postgres=warn",
        LogLevel::Verbose => "info,pgcopydb=debug,tokio_postgres=warn",
        LogLevel::Info => "info,tokio_postgres=warn",
    };
    // PGCOPYDB_LOG lets a developer pick modules.
    let filter = EnvFilter::try_from_env("PGCOPYDB_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let tty = io::stderr().is_terminal();
    if tty {
        let _ = BARS.set(MultiProgress::new());
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(tty)
        .with_writer(LogWriter);
    let _ = builder.try_init();
}

/// Print the error that ends the run: one line, the cause chain joined.
pub fn print_fatal(err: &anyhow::Error) {
    let line = format!("{err:#}");
    let line = super::secrets::mask(&line).replace('\n', " ");
    match bars() {
        Some(b) => b.suspend(|| super::stdout::eprintln(format_args!("error: {line}"))),
        None => super::stdout::eprintln(format_args!("error: {line}")),
    }
}

/// Writes each log line to stderr, above the progress bars when they exist.
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::new())
    }
}

struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let out = std::mem::take(&mut self.0);
        // Every log line, at every level, of us or of a library (tokio-postgres
        // logs each statement at debug), goes through here: mask secrets once.
        let out = String::from_utf8_lossy(&out);
        let out = super::secrets::mask(&out);
        let write = || {
            let _ = io::stderr().write_all(out.as_bytes());
        };
        match bars() {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
}
