//! The original pgcopydb's log settings: `PGCOPYDB_LOG_JSON` (one JSON object
//! per line on stderr), `PGCOPYDB_LOG_FILENAME` (the log also written to that
//! file, truncated first), `PGCOPYDB_LOG_JSON_FILE` (that file in JSON) and
//! `PGCOPYDB_LOG_TIME_FORMAT` (strftime(3) format of the timestamps).

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A boolean variable, read like a PostgreSQL boolean (on/yes/true/1).
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "on" | "yes" | "true" | "1" | "t" | "y"
        )
    })
}

/// Log lines as the original writes them: a timestamp in the chosen format,
/// then the level and the message; or, in JSON, the original's keys.
pub struct OriginalFormat {
    pub json: bool,
    pub time_format: String,
}

impl OriginalFormat {
    pub fn new(json: bool, tty: bool) -> Self {
        let default = if tty { "%H:%M:%S" } else { "%Y-%m-%d %H:%M:%S" };
        let time_format =
            std::env::var("PGCOPYDB_LOG_TIME_FORMAT").unwrap_or_else(|_| default.to_string());
        OriginalFormat { json, time_format }
    }
}

impl<S, N> FormatEvent<S, N> for OriginalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = String::new();
        ctx.format_fields(Writer::new(&mut message), event)?;
        let meta = event.metadata();
        let timestamp = local_time(&self.time_format);
        if self.json {
            let doc = serde_json::json!({
                "timestamp": timestamp,
                "pid": std::process::id(),
                "error_severity": meta.level().as_str(),
                "file_name": meta.file(),
                "file_line_num": meta.line(),
                "message": message,
            });
            writeln!(writer, "{doc}")
        } else {
            writeln!(writer, "{timestamp} {:>5} {message}", meta.level())
        }
    }
}

/// The local time now, formatted by strftime(3); empty when the format
/// yields nothing (or more than 256 bytes).
fn local_time(format: &str) -> String {
    // SAFETY: time(NULL) only returns the current time.
    local_time_at(format, unsafe { libc::time(std::ptr::null_mut()) })
}

/// The local time of `epoch` (seconds), formatted by strftime(3).
pub(crate) fn local_time_at(format: &str, epoch: libc::time_t) -> String {
    let Ok(c_format) = std::ffi::CString::new(format) else {
        return String::new();
    };
    let mut buf = [0u8; 256];
    // SAFETY: localtime_r writes into the local `tm`; strftime writes at
    // most buf.len() bytes into buf and returns how many it wrote.
    let written = unsafe {
        let now = epoch;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c_format.as_ptr(), &tm)
    };
    String::from_utf8_lossy(buf.get(..written).unwrap_or_default()).into_owned()
}
