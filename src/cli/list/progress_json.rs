//! `list progress --json` in the original pgcopydb's shape: `table-jobs`,
//! `index-jobs`, and `tables` / `indexes` objects with `total`, `done` and
//! the `in-progress` items (`oid`, `schema`, `name`, `process`). Our own keys
//! (`totals`, `units`, `cdc`) stay beside them.

use anyhow::Result;
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::workdir::state::{ProgressRow, State};

#[derive(Debug, Serialize)]
pub struct InProgress {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// The table of an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableRef>,
    pub process: Process,
}

#[derive(Debug, Serialize)]
pub struct TableRef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Process {
    #[serde(rename = "start-time-epoch")]
    pub start_time_epoch: i64,
    pub command: String,
}

#[derive(Debug, Serialize)]
pub struct Counts {
    pub total: usize,
    pub done: usize,
    #[serde(rename = "in-progress")]
    pub in_progress: Vec<InProgress>,
}

#[derive(Debug, Serialize)]
pub struct OriginalShape {
    #[serde(rename = "table-jobs")]
    pub table_jobs: Option<usize>,
    #[serde(rename = "index-jobs")]
    pub index_jobs: Option<usize>,
    pub tables: Counts,
    pub indexes: Counts,
}

/// The oid a unit key (`table:16384`, `part:16384:2`, `index:16390`) names.
fn unit_oid(unit: &str) -> Option<u32> {
    unit.split(':').nth(1)?.parse().ok()
}

pub fn original_shape(state: &State, rows: &[ProgressRow]) -> Result<OriginalShape> {
    let setup = state.catalog().setup()?;
    let jobs = |key: &str| setup.get(key).and_then(|v| v.parse().ok());
    let running = |kinds: &[&str]| -> Vec<&ProgressRow> {
        rows.iter()
            .filter(|r| r.state == "running" && kinds.contains(&r.kind.as_str()))
            .collect()
    };
    let done = |kind: &str| {
        rows.iter()
            .filter(|r| r.state == "done" && r.kind == kind)
            .count()
    };
    let mut tables = Vec::new();
    for r in running(&["table", "table part"]) {
        let Some(oid) = unit_oid(&r.unit) else {
            continue;
        };
        if let Some((schema, name)) = names(state, "s_table", oid)? {
            tables.push(InProgress {
                oid,
                schema,
                name,
                table: None,
                process: process(r, "COPY"),
            });
        }
    }
    let mut indexes = Vec::new();
    for r in running(&["index", "parent index"]) {
        let Some(oid) = unit_oid(&r.unit) else {
            continue;
        };
        let Some((schema, name)) = names(state, "s_index", oid)? else {
            continue;
        };
        let table = match index_table(state, oid)? {
            Some(t) => names(state, "s_table", t)?.map(|(schema, name)| TableRef {
                oid: t,
                schema,
                name,
            }),
            None => None,
        };
        indexes.push(InProgress {
            oid,
            schema,
            name,
            table,
            process: process(r, "CREATE INDEX"),
        });
    }
    let (planned_tables, _) = state.catalog().planned_tables()?;
    let planned_indexes: i64 =
        state.with(|c| c.query_row("SELECT count(*) FROM s_index", [], |r| r.get(0)))?;
    Ok(OriginalShape {
        table_jobs: jobs("table_jobs"),
        index_jobs: jobs("index_jobs"),
        tables: Counts {
            total: planned_tables,
            done: done("table"),
            in_progress: tables,
        },
        indexes: Counts {
            total: planned_indexes.max(0) as usize,
            done: done("index"),
            in_progress: indexes,
        },
    })
}

fn process(r: &ProgressRow, what: &str) -> Process {
    Process {
        start_time_epoch: r.started.unwrap_or(0.0) as i64,
        command: format!("{what} {}", r.label),
    }
}

/// Schema and name of the table or index `oid` in the recorded catalog.
fn names(state: &State, table: &str, oid: u32) -> Result<Option<(String, String)>> {
    let sql = format!("SELECT schema, name FROM {table} WHERE oid = ?1");
    state.with(|c| {
        c.query_row(&sql, [oid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    })
}

fn index_table(state: &State, oid: u32) -> Result<Option<u32>> {
    state.with(|c| {
        c.query_row("SELECT table_oid FROM s_index WHERE oid = ?1", [oid], |r| {
            r.get(0)
        })
        .optional()
    })
}
