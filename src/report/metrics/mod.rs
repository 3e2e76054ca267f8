//! `--metrics-addr HOST:PORT`: the running clone's figures in the
//! Prometheus text format, at `/metrics` ([`server`]). The [`Board`] is
//! what the data phase publishes to: the counters of each database's
//! [`Progress`] (one for a clone, one per database with `--all-databases`)
//! and the servers' latest sample of our COPYs and index builds.
//!
//! Labels name tables, indexes and sides only: never a host, a user or
//! anything else of a connection string.

pub mod server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::progress::Progress;

/// What `/metrics` shows.
#[derive(Default)]
pub struct Board {
    watched: Mutex<Vec<Arc<Progress>>>,
    /// The work directory whose change data capture positions are shown.
    changes_dir: Mutex<Option<PathBuf>>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Board")
    }
}

impl Board {
    /// Show the figures of a data phase that starts.
    pub fn watch(&self, progress: Arc<Progress>) {
        crate::sync::lock(&self.watched).push(progress);
    }

    /// Show the positions of the follow recorded in `dir` (`clone --follow`,
    /// `follow`), read from its state at each scrape.
    pub fn follow_changes_in(&self, dir: &Path) {
        *crate::sync::lock(&self.changes_dir) = Some(dir.to_path_buf());
    }

    /// The whole page, in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let watched = crate::sync::lock(&self.watched).clone();
        let sum = |f: &dyn Fn(&Progress) -> u64| watched.iter().map(|p| f(p)).sum::<u64>();
        let mut page = Page::default();
        let totals: [(&str, &str, &str, u64); 9] = [
            (
                "pgcopydb_tables",
                "gauge",
                "Tables the run copies.",
                sum(&|p| p.tables_total.load(Ordering::Relaxed) as u64),
            ),
            (
                "pgcopydb_tables_done",
                "gauge",
                "Tables whose data is in.",
                sum(&|p| p.tables_done.load(Ordering::Relaxed) as u64),
            ),
            (
                "pgcopydb_indexes",
                "gauge",
                "Indexes the run builds.",
                sum(&|p| p.indexes_total.load(Ordering::Relaxed) as u64),
            ),
            (
                "pgcopydb_indexes_done",
                "gauge",
                "Indexes built.",
                sum(&|p| p.indexes_done.load(Ordering::Relaxed) as u64),
            ),
            (
                "pgcopydb_bytes_expected",
                "gauge",
                "Size of the tables to copy (pages on disk).",
                sum(&|p| p.bytes_total.load(Ordering::Relaxed)),
            ),
            (
                "pgcopydb_bytes_done",
                "gauge",
                "Bytes copied (a table that is in counts at its size).",
                sum(&|p| p.bytes_done.load(Ordering::Relaxed)),
            ),
            (
                "pgcopydb_rows_copied_total",
                "counter",
                "Rows of the committed copies.",
                sum(&|p| p.rows_done.load(Ordering::Relaxed)),
            ),
            (
                "pgcopydb_tables_copying",
                "gauge",
                "Tables (or parts of tables) being copied.",
                sum(&|p| p.copying() as u64),
            ),
            (
                "pgcopydb_errors_total",
                "counter",
                "Units of work that failed.",
                sum(&|p| p.errors.load(Ordering::Relaxed) as u64),
            ),
        ];
        for (name, kind, help, value) in totals {
            page.family(name, kind, help);
            page.sample(name, &[], value);
        }
        let samples: Vec<_> = watched.iter().map(|p| p.sampled()).collect();
        let copies: Vec<_> = samples.iter().flat_map(|s| &s.copies).collect();
        let copy_family =
            |page: &mut Page,
             name: &str,
             help: &str,
             value: &dyn Fn(&crate::report::in_flight::CopyInFlight) -> Option<i64>| {
                page.family(name, "gauge", help);
                for c in &copies {
                    if let Some(v) = value(c) {
                        page.sample(name, &[("side", &c.side), ("table", &c.table)], v);
                    }
                }
            };
        copy_family(
            &mut page,
            "pgcopydb_copy_bytes_processed",
            "Bytes a COPY in flight has processed, as its server reports it.",
            &|c| Some(c.bytes_processed),
        );
        copy_family(
            &mut page,
            "pgcopydb_copy_bytes_total",
            "Size of a COPY's input, when its server knows it.",
            &|c| c.bytes_total,
        );
        copy_family(
            &mut page,
            "pgcopydb_copy_tuples_processed",
            "Rows a COPY in flight has processed.",
            &|c| Some(c.tuples_processed),
        );
        let builds: Vec<_> = samples.iter().flat_map(|s| &s.indexes).collect();
        let build_family =
            |page: &mut Page,
             name: &str,
             help: &str,
             value: &dyn Fn(&crate::report::in_flight::IndexBuild) -> i64| {
                page.family(name, "gauge", help);
                for b in &builds {
                    let index = b.index.as_deref().unwrap_or("");
                    page.sample(
                        name,
                        &[("index", index), ("table", &b.table), ("phase", &b.phase)],
                        value(b),
                    );
                }
            };
        build_family(
            &mut page,
            "pgcopydb_index_build_blocks_done",
            "Blocks an index build in flight has processed in its phase.",
            &|b| b.blocks_done,
        );
        build_family(
            &mut page,
            "pgcopydb_index_build_blocks_total",
            "Blocks of its phase.",
            &|b| b.blocks_total,
        );
        build_family(
            &mut page,
            "pgcopydb_index_build_tuples_done",
            "Tuples an index build in flight has processed in its phase.",
            &|b| b.tuples_done,
        );
        build_family(
            &mut page,
            "pgcopydb_index_build_tuples_total",
            "Tuples of its phase.",
            &|b| b.tuples_total,
        );
        let changes_dir = crate::sync::lock(&self.changes_dir).clone();
        if let Some(sentinel) = changes_dir.and_then(|d| follow_positions(&d)) {
            page.changes(&sentinel);
        }
        page.text
    }
}

/// A page being written.
#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    /// The follow's positions (LSNs as byte positions) and counts.
    fn changes(&mut self, sentinel: &crate::stream::sentinel::Sentinel) {
        let figures = sentinel.progress_json();
        let number = |key: &str| figures.get(key).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let stats = &sentinel.stats;
        let rows: [(&str, &str, &str, f64); 8] = [
            (
                "pgcopydb_cdc_received_lsn",
                "gauge",
                "Last change received from the slot (WAL byte position).",
                sentinel.write_lsn.0 as f64,
            ),
            (
                "pgcopydb_cdc_stored_lsn",
                "gauge",
                "Last change stored in the work directory.",
                sentinel.flush_lsn.0 as f64,
            ),
            (
                "pgcopydb_cdc_applied_lsn",
                "gauge",
                "Last change applied on the target.",
                sentinel.replay_lsn.0 as f64,
            ),
            (
                "pgcopydb_cdc_source_lsn",
                "gauge",
                "The source's WAL position when last heard of.",
                stats.source_lsn.0 as f64,
            ),
            (
                "pgcopydb_cdc_lag_bytes",
                "gauge",
                "WAL between the source's position and the applied one.",
                number("lag_bytes"),
            ),
            (
                "pgcopydb_cdc_lag_seconds",
                "gauge",
                "Time since applied last reached the source's position (0 when caught up).",
                number("lag_seconds"),
            ),
            (
                "pgcopydb_cdc_transactions_total",
                "counter",
                "Transactions applied.",
                stats.transactions as f64,
            ),
            (
                "pgcopydb_cdc_rows_total",
                "counter",
                "Rows applied.",
                stats.rows as f64,
            ),
        ];
        for (name, kind, help, value) in rows {
            self.family(name, kind, help);
            self.sample(name, &[], value);
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(self.text, "{name}{labels} {value}");
    }
}

/// The follow recorded in `dir`, if one is.
fn follow_positions(dir: &Path) -> Option<crate::stream::sentinel::Sentinel> {
    let path = dir.join(crate::workdir::contents::STATE_FILE);
    if !path.is_file() {
        return None;
    }
    let state = crate::workdir::state::State::open_readonly(&path).ok()?;
    crate::stream::sentinel::read(&state).ok().flatten()
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::in_flight::{CopyInFlight, InFlight, IndexBuild};

    #[test]
    fn the_page_has_counters_and_the_work_in_flight() {
        let board = Board::default();
        let progress = Arc::new(Progress::default());
        progress.tables_total.store(3, Ordering::Relaxed);
        progress.start_table("public.\"q\"");
        progress.set_sampled(InFlight {
            sampled_at: 0.0,
            copies: vec![CopyInFlight {
                side: "target".into(),
                table: "public.\"q\"".into(),
                bytes_processed: 65536,
                bytes_total: None,
                tuples_processed: 7,
            }],
            indexes: vec![IndexBuild {
                index: Some("public.t_a_idx".into()),
                table: "public.t".into(),
                phase: "building index: scanning table".into(),
                blocks_done: 1,
                blocks_total: 40,
                tuples_done: 0,
                tuples_total: 0,
            }],
        });
        board.watch(progress);
        let page = board.render();
        assert!(
            page.contains("# TYPE pgcopydb_tables gauge\npgcopydb_tables 3\n"),
            "{page}"
        );
        assert!(page.contains("pgcopydb_tables_copying 1\n"), "{page}");
        assert!(
            page.contains(
                "pgcopydb_copy_bytes_processed{side=\"target\",table=\"public.\\\"q\\\"\"} 65536\n"
            ),
            "{page}"
        );
        assert!(!page.contains("pgcopydb_copy_bytes_total{"), "{page}");
        assert!(page.contains(
            "pgcopydb_index_build_blocks_total{index=\"public.t_a_idx\",table=\"public.t\",phase=\"building index: scanning table\"} 40\n"
        ), "{page}");
    }
}
