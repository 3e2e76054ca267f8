//! `list progress --json` in the original pgcopydb's shape: `table-jobs`,
//! `index-jobs`, and `tables` / `indexes` objects with `total`, `done` and
//! the `in-progress` items (`oid`, `schema`, `name`, `process`). Our own keys
//! (`totals`, `units`, `cdc`) stay beside them.

use anyhow::Result;
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::catalog::listing::ListingNames;
use crate::catalog::{Index, Table};
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
    /// The rest of the original's keys for the table (`reltuples`, `bytes`,
    /// `restore-list-name`, `part-key`...) or the index (`isPrimary`,
    /// `columns`, `sql`, `constraint`...).
    #[serde(flatten)]
    pub described: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct TableRef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Process {
    /// The pgcopydb process of the run (ours works in one process).
    pub pid: Option<u32>,
    #[serde(rename = "start-time-epoch")]
    pub start_time_epoch: i64,
    #[serde(rename = "start-time-string")]
    pub start_time_string: String,
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

/// `pid`: the process running the run, if any.
pub fn original_shape(
    state: &State,
    rows: &[ProgressRow],
    pid: Option<u32>,
) -> Result<OriginalShape> {
    let names = state.catalog().listing_names()?;
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
        if let Some(table) = recorded::<Table>(state, "s_table", oid)? {
            tables.push(InProgress {
                oid,
                described: described(table_keys(&table, &names)),
                schema: table.schema,
                name: table.name,
                table: None,
                process: process(r, "COPY", pid),
            });
        }
    }
    let mut indexes = Vec::new();
    for r in running(&["index", "parent index"]) {
        let Some(oid) = unit_oid(&r.unit) else {
            continue;
        };
        let Some(index) = recorded::<Index>(state, "s_index", oid)? else {
            continue;
        };
        let table = recorded::<Table>(state, "s_table", index.table_oid)?;
        let described = match &table {
            Some(t) => described(super::schema_json::index(t, &index, &names)),
            None => Default::default(),
        };
        indexes.push(InProgress {
            oid,
            table: table.map(|t| TableRef {
                oid: t.oid,
                schema: t.schema,
                name: t.name,
            }),
            schema: index.schema,
            name: index.name,
            process: process(r, "CREATE INDEX", pid),
            described,
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

fn process(r: &ProgressRow, what: &str, pid: Option<u32>) -> Process {
    let epoch = r.started.unwrap_or(0.0) as i64;
    Process {
        pid,
        start_time_epoch: epoch,
        start_time_string: crate::report::log_format::local_time_at("%Y-%m-%d %H:%M:%S %Z", epoch),
        command: format!("{what} {}", r.label),
    }
}

/// The table's keys in the original's `list schema` and `list progress`.
fn table_keys(t: &Table, names: &ListingNames) -> serde_json::Value {
    serde_json::json!({
        "reltuples": t.estimated_rows as i64,
        "bytes": t.bytes,
        "bytes-pretty": super::render::pg_size_pretty(t.bytes),
        "exclude-data": !t.copy_data,
        "restore-list-name": names.restore_name(t.oid),
        "part-key": super::schema_json::split_column(t).unwrap_or_default(),
    })
}

/// The keys of `doc` other than those [`InProgress`] has itself.
fn described(doc: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(mut map) = doc else {
        return Default::default();
    };
    for own in ["oid", "schema", "name", "table"] {
        map.remove(own);
    }
    map
}

/// The table or index `oid` as the run recorded it.
fn recorded<T: serde::de::DeserializeOwned>(
    state: &State,
    table: &str,
    oid: u32,
) -> Result<Option<T>> {
    let sql = format!("SELECT json FROM {table} WHERE oid = ?1");
    let json: Option<String> = state.with(|c| c.query_row(&sql, [oid], |r| r.get(0)).optional())?;
    match json {
        Some(json) => Ok(Some(serde_json::from_str(&json)?)),
        None => Ok(None),
    }
}
