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
    use super::log_format::{env_flag, OriginalFormat};
    use tracing_subscriber::prelude::*;
    let json = env_flag("PGCOPYDB_LOG_JSON");
    let stderr = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(tty && !json)
        .with_writer(LogWriter);
    // The original's format only when its variables ask for it: the
    // default lines stay as they are.
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let mut layers: Vec<Boxed> = Vec::new();
    if json || std::env::var_os("PGCOPYDB_LOG_TIME_FORMAT").is_some() {
        layers.push(Box::new(
            stderr.event_format(OriginalFormat::new(json, tty)),
        ));
    } else {
        layers.push(Box::new(stderr));
    }
    let (file, file_error) = match std::env::var_os("PGCOPYDB_LOG_FILENAME") {
        Some(path) => match std::fs::File::create(&path) {
            Ok(f) => (Some(std::sync::Arc::new(std::sync::Mutex::new(f))), None),
            Err(e) => (
                None,
                Some(format!(
                    "cannot write the log file {path:?} (PGCOPYDB_LOG_FILENAME): {e}"
                )),
            ),
        },
        None => (None, None),
    };
    if let Some(f) = file {
        layers.push(Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(FileWriter(f))
                .event_format(OriginalFormat::new(
                    env_flag("PGCOPYDB_LOG_JSON_FILE"),
                    false,
                )),
        ));
    }
    let _ = tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init();
    if let Some(e) = file_error {
        tracing::warn!("{e}");
    }
}

/// Writes each log line, secrets masked, to the `PGCOPYDB_LOG_FILENAME` file.
struct FileWriter(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = FileLine;
    fn make_writer(&'a self) -> Self::Writer {
        FileLine(Vec::new(), self.0.clone())
    }
}

struct FileLine(Vec<u8>, std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl Write for FileLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for FileLine {
    fn drop(&mut self) {
        let out = std::mem::take(&mut self.0);
        let out = super::secrets::mask(&String::from_utf8_lossy(&out)).into_owned();
        if let Ok(mut file) = self.1.lock() {
            // A full disk must not stop the run: the log on stderr remains.
            let _ = file.write_all(out.as_bytes());
        }
    }
}

/// Print the error that ends the run: one line, the cause chain joined.
pub fn print_fatal(err: &anyhow::Error) {
    let line = format!("{err:#}");
    let line = super::secrets::mask(&line).replace('\n', " ");
    // With JSON logs, the last line is a JSON log line too (and reaches the log file).
    if super::log_format::env_flag("PGCOPYDB_LOG_JSON") && tracing::dispatcher::has_been_set() {
        tracing::error!("{line}");
        return;
    }
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
