//! The one place that writes to standard output.
//!
//! SIGPIPE stays ignored (the tool writes to sockets and child pipes, where
//! EPIPE must remain an error), so a reader that stops early
//! (`pgcopydb list progress --json | head -1`) shows up here as EPIPE. That is
//! the reader's choice, not a failure: the rest of the output is dropped and
//! the command ends with the status it would have had, as the original does
//! (it ignores SIGPIPE and does not check its writes). Any other write error
//! (a full disk behind a redirection) is reported.

use std::fmt::Display;
use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Set once the reader has gone away: later output is dropped unwritten.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Print `text` as is (no newline added).
pub fn print(text: impl Display) -> Result<()> {
    write_out(format_args!("{text}"))
}

/// Print `text` and a newline.
pub fn println(text: impl Display) -> Result<()> {
    write_out(format_args!("{text}\n"))
}

/// Print `value` as pretty JSON and a newline.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    println(serde_json::to_string_pretty(value)?)
}

fn write_out(args: std::fmt::Arguments<'_>) -> Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other.context("cannot write to standard output"),
    }
}

/// Write a line to standard error; a closed or failing stderr is ignored
/// (there is nowhere left to report it, and it must not panic).
pub fn eprintln(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}
