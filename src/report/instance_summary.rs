//! The summary of an `--all-databases` run: one line per database (tables,
//! rows, bytes, duration, failures) and the totals. Each database's own
//! summary, table by table, stays in its work directory.

use std::path::Path;

use crate::report::size::pg_size_pretty;
use comfy_table::{presets, CellAlignment, Table as Grid};
use serde::Serialize;

use super::summary::{failure_class, seconds, Summary};
use crate::error::Error;

#[derive(Debug, Clone, Serialize, Default)]
pub struct DatabaseReport {
    pub database: String,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub indexes: usize,
    pub sequences: usize,
    pub large_objects: usize,
    pub seconds: f64,
    /// Failed units, or the error that stopped this database's run.
    pub failures: Vec<Error>,
    /// Tables copied by this run, with their row counts checked on both sides.
    pub copied: usize,
    /// Copies whose source and target row counts differed.
    pub count_mismatches: usize,
    /// `--verify` found the database equal.
    pub verified: bool,
}

impl DatabaseReport {
    pub fn from_summary(database: &str, s: &Summary) -> DatabaseReport {
        DatabaseReport {
            database: database.to_string(),
            tables: s.tables.len(),
            rows: s.tables.iter().map(|t| t.rows).sum(),
            bytes: s.tables.iter().map(|t| t.bytes).sum(),
            indexes: s.tables.iter().map(|t| t.indexes).sum(),
            sequences: s.sequences,
            large_objects: s.large_objects,
            seconds: s.total_seconds,
            failures: s.failures.clone(),
            copied: s.tables.iter().filter(|t| t.copied).count(),
            count_mismatches: s.count_mismatches,
            verified: s.verified,
        }
    }

    /// A database whose run ended with an error before its summary.
    pub fn failed(database: &str, error: Error, seconds: f64) -> DatabaseReport {
        DatabaseReport {
            database: database.to_string(),
            seconds,
            failures: vec![error],
            ..DatabaseReport::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    pub databases: usize,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub indexes: usize,
    pub sequences: usize,
    pub large_objects: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct InstanceSummary {
    pub source: String,
    pub target: String,
    pub roles_created: Vec<String>,
    pub databases_created: Vec<String>,
    pub databases: Vec<DatabaseReport>,
    pub totals: Totals,
    /// Names of the databases with any failure.
    pub failed_databases: Vec<String>,
}

impl InstanceSummary {
    /// Fill the totals and the failed list from the per-database reports.
    pub fn finish(&mut self, total_seconds: f64) {
        let d = &self.databases;
        self.totals = Totals {
            databases: d.len(),
            tables: d.iter().map(|r| r.tables).sum(),
            rows: d.iter().map(|r| r.rows).sum(),
            bytes: d.iter().map(|r| r.bytes).sum(),
            indexes: d.iter().map(|r| r.indexes).sum(),
            sequences: d.iter().map(|r| r.sequences).sum(),
            large_objects: d.iter().map(|r| r.large_objects).sum(),
            seconds: total_seconds,
        };
        self.failed_databases = d
            .iter()
            .filter(|r| !r.failures.is_empty())
            .map(|r| r.database.clone())
            .collect();
    }

    /// Saved 0600, replacing (never following) whatever is at `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::workdir::private::write_private_file(path, text.as_bytes())
    }

    pub fn render(&self) -> String {
        let mut grid = Grid::new();
        grid.load_style(presets::ASCII_MARKDOWN);
        grid.set_header(vec![
            "Database", "Tables", "Rows", "Bytes", "Indexes", "Duration", "Status",
        ]);
        for r in &self.databases {
            let status = match r.failures.len() {
                0 => "ok".to_string(),
                n => format!("{n} failure(s)"),
            };
            grid.add_row(vec![
                r.database.clone(),
                r.tables.to_string(),
                r.rows.to_string(),
                pg_size_pretty(r.bytes),
                r.indexes.to_string(),
                seconds(r.seconds),
                status,
            ]);
        }
        let t = &self.totals;
        grid.add_row(vec![
            "Total".to_string(),
            t.tables.to_string(),
            t.rows.to_string(),
            pg_size_pretty(t.bytes),
            t.indexes.to_string(),
            seconds(t.seconds),
            format!("{} failed", self.failed_databases.len()),
        ]);
        for i in 1..=5 {
            if let Some(c) = grid.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut out = format!("{grid}\n\n");
        out.push_str(&format!(
            "{} databases, {} tables, {} rows, {} copied; {} sequences, {} large objects; \
             {} roles and {} databases created on the target\n",
            t.databases,
            t.tables,
            t.rows,
            pg_size_pretty(t.bytes),
            t.sequences,
            t.large_objects,
            self.roles_created.len(),
            self.databases_created.len()
        ));
        if let Some(line) = self.counts_line() {
            out.push_str(&line);
            out.push('\n');
        }
        for r in &self.databases {
            for f in &r.failures {
                out.push_str(&format!(
                    "FAILED in {} {}: {f}\n",
                    r.database,
                    failure_class(f)
                ));
            }
        }
        out
    }

    /// What the row-count guard of the copies and `--verify` established
    /// (see [`Summary`]'s own line).
    fn counts_line(&self) -> Option<String> {
        let d = &self.databases;
        if d.iter().all(|r| r.copied == 0 && r.count_mismatches == 0) {
            return None;
        }
        let differing: Vec<&str> = d
            .iter()
            .filter(|r| r.count_mismatches > 0)
            .map(|r| r.database.as_str())
            .collect();
        let counts = if differing.is_empty() {
            "source and target COPY row counts matched for every table".to_string()
        } else {
            format!(
                "source and target COPY row counts differed in {}, see FAILED below",
                differing.join(", ")
            )
        };
        let content = if d.iter().all(|r| r.verified) {
            "content verified equal by --verify"
        } else {
            "content not compared: --verify does that"
        };
        Some(format!(
            "rows: {} copied, {counts}; {content}",
            self.totals.rows
        ))
    }
}
