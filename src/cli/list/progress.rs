//! `pgcopydb list progress`: what a run did or is doing, read from its work directory.

use std::path::PathBuf;

use crate::report::size::pg_size_pretty;
use anyhow::Result;
use comfy_table::{presets, Table as Grid};
use indicatif::HumanDuration;

use crate::cli::LogArgs;
use crate::error::Failure;
use crate::workdir::state::{ProgressRow, State};
use crate::workdir::WorkDir;

#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// Work directory of the run
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    dir: Option<PathBuf>,
    /// Print JSON
    #[arg(short = 'J', long)]
    json: bool,
    /// Only the totals, not every unit
    #[arg(short = 'y', long)]
    summary: bool,
    /// Accepted for compatibility; no effect: progress is read from the work directory
    #[arg(
        short = 'S',
        long,
        env = "PGCOPYDB_SOURCE_PGURI",
        hide_env_values = true
    )]
    source: Option<String>,
    #[command(flatten)]
    log: LogArgs,
}

pub fn run(args: ProgressArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let dir = args.dir.unwrap_or_else(WorkDir::default_path);
    let path = dir.join("pgcopydb.db");
    if !path.exists() {
        return Err(Failure::state(format!(
            "no pgcopydb run recorded in {}: check --dir",
            dir.display()
        ))
        .into());
    }
    let unreadable = |e: anyhow::Error| {
        let why = crate::workdir::state::reason(&path, &e);
        crate::workdir::state::unreadable(&path, &why, "--restart on the run")
    };
    let state = State::open_readonly(&path).map_err(unreadable)?;
    let rows = state.ledger().progress().map_err(unreadable)?;
    let planned = state.catalog().planned_tables().map_err(unreadable)?;
    let totals = Totals::of(&rows, planned);
    let sentinel = crate::stream::sentinel::read(&state).map_err(unreadable)?;
    let cdc = sentinel.as_ref().map(|s| s.progress_json());
    if args.json && args.summary {
        return print_summary(&dir);
    }
    if args.json {
        let mut doc = serde_json::to_value(
            super::progress_json::original_shape(&state, &rows, run_pid(&dir))
                .map_err(unreadable)?,
        )?;
        let ours = serde_json::json!({ "totals": totals.json(), "units": rows, "cdc": cdc });
        if let (Some(doc), serde_json::Value::Object(ours)) = (doc.as_object_mut(), ours) {
            doc.extend(ours);
        }
        let doc = crate::report::in_flight::with_in_flight(doc, &dir);
        crate::report::stdout::println(serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let shape =
        super::progress_json::original_shape(&state, &rows, run_pid(&dir)).map_err(unreadable)?;
    crate::report::stdout::println(super::progress_text::counts_table(&shape, &rows, planned.1))?;
    if !args.summary {
        let mut grid = Grid::new();
        grid.load_style(presets::ASCII_MARKDOWN);
        grid.set_header(vec!["Kind", "Unit", "State", "Bytes", "Rows", "Duration"]);
        for r in rows.iter().filter(|r| r.kind != "blob") {
            let duration = match (r.started, r.finished) {
                (Some(s), Some(f)) => format!("{:.1}s", f - s),
                (Some(s), None) => format!("{:.1}s so far", now() - s),
                _ => String::new(),
            };
            grid.add_row(vec![
                r.kind.clone(),
                r.label.clone(),
                r.state.clone(),
                pg_size_pretty(r.bytes),
                r.rows.to_string(),
                duration,
            ]);
        }
        crate::report::stdout::println(&grid)?;
    }
    crate::report::stdout::println(totals.line())?;
    if let Some(sentinel) = &sentinel {
        crate::report::stdout::println(sentinel.progress_line())?;
    }
    crate::report::in_flight::print_live(&dir)?;
    Ok(())
}

/// `--summary --json`: the run's summary as saved in `summary.json` (the
/// original's keys with ours), once a command of the run has ended.
fn print_summary(dir: &std::path::Path) -> Result<()> {
    let path = dir.join(crate::workdir::contents::SUMMARY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::state(format!(
            "no summary in {} yet ({e}): it is written when a command of the run ends; \
             list progress --json shows a run in progress",
            dir.display()
        ))
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::state(format!(
            "{} is not JSON ({e}): --restart the run",
            path.display()
        ))
    })?;
    crate::report::stdout::println(serde_json::to_string_pretty(&doc)?)
}

/// The pid of the pgcopydb running in `dir`, while one holds its lock.
fn run_pid(dir: &std::path::Path) -> Option<u32> {
    let lock = dir.join(crate::workdir::contents::LOCK_FILE);
    if !crate::workdir::lock::is_held(&lock) {
        return None;
    }
    std::fs::read_to_string(&lock).ok()?.trim().parse().ok()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

struct Totals {
    tables_done: usize,
    tables: usize,
    running: usize,
    failed: usize,
    bytes_done: i64,
    bytes_expected: i64,
    eta_seconds: Option<f64>,
}

impl Totals {
    fn of(rows: &[ProgressRow], (planned, planned_bytes): (usize, i64)) -> Totals {
        let tables: Vec<&ProgressRow> = rows.iter().filter(|r| r.kind == "table").collect();
        let bytes_done: i64 = tables.iter().map(|r| r.bytes).sum();
        // Copied bytes (COPY text) and table sizes (pages on disk) differ; the
        // larger of the two keeps the estimate from going negative.
        let bytes_expected = planned_bytes.max(bytes_done);
        let first_start = tables.iter().filter_map(|r| r.started).reduce(f64::min);
        let eta_seconds = first_start.and_then(|s| {
            let rate = bytes_done as f64 / (now() - s).max(0.001);
            (rate > 0.0).then(|| (bytes_expected - bytes_done).max(0) as f64 / rate)
        });
        Totals {
            tables_done: tables.iter().filter(|r| r.state == "done").count(),
            tables: planned.max(tables.len()),
            running: rows.iter().filter(|r| r.state == "running").count(),
            failed: rows.iter().filter(|r| r.state == "failed").count(),
            bytes_done,
            bytes_expected,
            eta_seconds,
        }
    }
    fn line(&self) -> String {
        let eta = match self.eta_seconds {
            Some(s) if self.tables_done < self.tables => format!(
                ", about {} left",
                HumanDuration(std::time::Duration::from_secs_f64(s))
            ),
            _ => String::new(),
        };
        format!(
            "tables {}/{} done, {} of about {} copied, {} running, {} failed{eta}",
            self.tables_done,
            self.tables,
            pg_size_pretty(self.bytes_done),
            pg_size_pretty(self.bytes_expected),
            self.running,
            self.failed
        )
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "tables_done": self.tables_done,
            "tables": self.tables,
            "bytes_done": self.bytes_done,
            "bytes_expected": self.bytes_expected,
            "running": self.running,
            "failed": self.failed,
            "eta_seconds": self.eta_seconds,
        })
    }
}
