//! The run's state in SQLite (`<dir>/pgcopydb.db`): the setup that shaped the
//! plan, the source catalog as read under the snapshot, and the progress of
//! every unit of work. One connection in WAL mode serves the whole process
//! (writes are tiny and serialised by a mutex, so there is never a "database
//! is locked"); other processes (`list progress`) read concurrently.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::catalog::{Catalog, Index, Sequence, Table};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS setup (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s_table (
    oid INTEGER PRIMARY KEY, schema TEXT NOT NULL, name TEXT NOT NULL,
    bytes INTEGER NOT NULL, position INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s_index (
    oid INTEGER PRIMARY KEY, table_oid INTEGER NOT NULL, schema TEXT NOT NULL,
    name TEXT NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS s_index_table ON s_index (table_oid);
CREATE TABLE IF NOT EXISTS s_sequence (
    oid INTEGER PRIMARY KEY, schema TEXT NOT NULL, name TEXT NOT NULL,
    last_value INTEGER NOT NULL, is_called INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS s_large_object (oid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS s_foreign_key (oid INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s_partitioned (oid INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS progress (
    unit TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
    state TEXT NOT NULL, started REAL, finished REAL,
    bytes INTEGER NOT NULL DEFAULT 0, rows INTEGER NOT NULL DEFAULT 0,
    expected_bytes INTEGER NOT NULL DEFAULT 0, error TEXT);
CREATE INDEX IF NOT EXISTS progress_kind ON progress (kind, state);
";

/// One unit of work whose progress is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unit {
    Step(&'static str),
    Table(u32),
    Index(u32),
    Constraints(u32),
    Vacuum(u32),
    LargeObject(u32),
    ForeignKey(u32),
    /// One part (1-based) of a split table.
    Part(u32, u32),
    /// The single TRUNCATE of a split table before its parts are copied.
    Truncate(u32),
    /// An index of a partitioned table (or the constraint it backs), with
    /// every child index attached to it.
    ParentIndex(u32),
}

impl Unit {
    pub fn key(&self) -> String {
        match self {
            Unit::Step(s) => format!("step:{s}"),
            Unit::Table(o) => format!("table:{o}"),
            Unit::Index(o) => format!("index:{o}"),
            Unit::Constraints(o) => format!("constraints:{o}"),
            Unit::Vacuum(o) => format!("vacuum:{o}"),
            Unit::LargeObject(o) => format!("blob:{o}"),
            Unit::ForeignKey(o) => format!("fk:{o}"),
            Unit::Part(o, n) => format!("part:{o}:{n}"),
            Unit::Truncate(o) => format!("truncate:{o}"),
            Unit::ParentIndex(o) => format!("parent-index:{o}"),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Unit::Step(_) => "step",
            Unit::Table(_) => "table",
            Unit::Index(_) => "index",
            Unit::Constraints(_) => "constraints",
            Unit::Vacuum(_) => "vacuum",
            Unit::LargeObject(_) => "blob",
            Unit::ForeignKey(_) => "foreign key",
            Unit::Part(..) => "table part",
            Unit::Truncate(_) => "truncate",
            Unit::ParentIndex(_) => "parent index",
        }
    }
}

/// A progress row, as `list progress` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressRow {
    pub unit: String,
    pub kind: String,
    pub label: String,
    pub state: String,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    pub bytes: i64,
    pub rows: i64,
    pub expected_bytes: i64,
    pub error: Option<String>,
}

pub struct State {
    conn: Mutex<Connection>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl State {
    /// Open (creating it 0600 when missing) the state of a run. A state file
    /// that SQLite cannot read — truncated, overwritten, empty — is a
    /// [`Failure::state`](crate::error::Error::state) saying so, never a half-read plan.
    pub fn open(path: &Path) -> Result<State> {
        let existed = path.exists();
        if !existed {
            // SQLite gives its -wal and -shm files the mode of this one.
            crate::workdir::private::create_new_private(path)
                .with_context(|| format!("creating the run state {}", path.display()))?;
        } else if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(unreadable(path, "it is empty", "--restart to start over").into());
        }
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "wal")?;
            conn.pragma_update(None, "synchronous", "normal")?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            if existed {
                let verdict: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
                if verdict != "ok" {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                        Some(verdict),
                    ));
                }
            }
            conn.execute_batch(SCHEMA)?;
            Ok(conn)
        };
        let conn = open().map_err(|e| {
            let why = reason(path, &e.into());
            unreadable(path, &why, "--restart to start over")
        })?;
        Ok(State {
            conn: Mutex::new(conn),
        })
    }

    /// Open for reading only, while a run may be writing.
    pub fn open_readonly(path: &Path) -> Result<State> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening the run state {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(State {
            conn: Mutex::new(conn),
        })
    }

    /// Fail when SQLite finds the file damaged (a truncated file can open
    /// and answer small queries from its first pages).
    pub fn check(&self) -> Result<()> {
        let verdict: String = self.with(|c| c.query_row("PRAGMA quick_check", [], |r| r.get(0)))?;
        if verdict != "ok" {
            anyhow::bail!(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(verdict),
            ));
        }
        Ok(())
    }

    /// Whether the run wrote (or was about to write) to the target: until
    /// then, starting it over loses nothing.
    pub fn target_written(&self) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) > 0 FROM setup WHERE key = 'target_written'",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Record that the run is about to write to the target.
    pub fn mark_target_written(&self) -> Result<()> {
        self.put_setup(&[("target_written", "yes".to_string())])
    }

    /// Run `f` on the state's connection (modules keeping their own tables
    /// in the state, such as the CDC sentinel, go through here).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = crate::sync::lock(&self.conn);
        Ok(f(&mut conn)?)
    }

    pub fn setup(&self) -> Result<HashMap<String, String>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT key, value FROM setup")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn put_setup(&self, entries: &[(&str, String)]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (k, v) in entries {
                tx.execute(
                    "INSERT INTO setup (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )?;
            }
            tx.commit()
        })
    }

    /// Store the catalog in one transaction (fast for tens of thousands of rows).
    pub fn save_catalog(&self, catalog: &Catalog) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for t in [
                "s_table",
                "s_index",
                "s_sequence",
                "s_large_object",
                "s_foreign_key",
                "s_partitioned",
            ] {
                tx.execute(&format!("DELETE FROM {t}"), [])?;
            }
            {
                let mut table = tx.prepare(
                    "INSERT INTO s_table (oid, schema, name, bytes, position, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut index = tx.prepare(
                    "INSERT INTO s_index (oid, table_oid, schema, name, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (pos, t) in catalog.tables.iter().enumerate() {
                    let mut bare = t.clone();
                    bare.indexes.clear();
                    table.execute(params![t.oid, t.schema, t.name, t.bytes, pos as i64, to_json(&bare)?])?;
                    for i in &t.indexes {
                        index.execute(params![i.oid, i.table_oid, i.schema, i.name, to_json(i)?])?;
                    }
                }
                let mut seq = tx.prepare(
                    "INSERT INTO s_sequence (oid, schema, name, last_value, is_called) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for s in &catalog.sequences {
                    seq.execute(params![s.oid, s.schema, s.name, s.last_value, s.is_called])?;
                }
                let mut lo = tx.prepare("INSERT INTO s_large_object (oid) VALUES (?1)")?;
                for oid in &catalog.large_objects {
                    lo.execute(params![oid])?;
                }
                let mut fk = tx.prepare("INSERT INTO s_foreign_key (oid, json) VALUES (?1, ?2)")?;
                for k in &catalog.foreign_keys {
                    fk.execute(params![k.oid, to_json(k)?])?;
                }
                let mut part = tx.prepare("INSERT INTO s_partitioned (oid, json) VALUES (?1, ?2)")?;
                for p in &catalog.partitioned {
                    part.execute(params![p.oid, to_json(p)?])?;
                }
            }
            tx.execute(
                "INSERT INTO setup (key, value) VALUES ('encoding', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![catalog.encoding],
            )?;
            match &catalog.toast_compression {
                Some(method) => tx.execute(
                    "INSERT INTO setup (key, value) VALUES ('toast_compression', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![method],
                )?,
                None => tx.execute("DELETE FROM setup WHERE key = 'toast_compression'", [])?,
            };
            // With the catalog, so the two always describe the same selection.
            tx.execute(
                "INSERT INTO setup (key, value) VALUES ('selection', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![to_json(&catalog.selection)?],
            )?;
            tx.commit()
        })
    }

    /// The catalog saved by an earlier run, if any.
    pub fn load_catalog(&self) -> Result<Option<Catalog>> {
        self.with(|c| {
            let count: i64 = c.query_row("SELECT count(*) FROM setup WHERE key = 'encoding'", [], |r| r.get(0))?;
            if count == 0 {
                return Ok(None);
            }
            let mut indexes: HashMap<u32, Vec<Index>> = HashMap::new();
            let mut stmt = c.prepare("SELECT table_oid, json FROM s_index ORDER BY table_oid, name")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))? {
                let (oid, json) = row?;
                indexes.entry(oid).or_default().push(from_json(&json)?);
            }
            let mut stmt = c.prepare("SELECT json FROM s_table ORDER BY position")?;
            let mut tables = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let mut t: Table = from_json(&row?)?;
                t.indexes = indexes.remove(&t.oid).unwrap_or_default();
                tables.push(t);
            }
            let mut stmt = c.prepare("SELECT oid, schema, name, last_value, is_called FROM s_sequence ORDER BY schema, name")?;
            let sequences = stmt
                .query_map([], |r| {
                    Ok(Sequence {
                        oid: r.get(0)?,
                        schema: r.get(1)?,
                        name: r.get(2)?,
                        last_value: r.get(3)?,
                        is_called: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT oid FROM s_large_object ORDER BY oid")?;
            let large_objects = stmt
                .query_map([], |r| r.get::<_, u32>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT json FROM s_foreign_key ORDER BY oid")?;
            let mut foreign_keys = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                foreign_keys.push(from_json(&row?)?);
            }
            let mut stmt = c.prepare("SELECT json FROM s_partitioned ORDER BY oid")?;
            let mut partitioned = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                partitioned.push(from_json(&row?)?);
            }
            let encoding = c.query_row("SELECT value FROM setup WHERE key = 'encoding'", [], |r| r.get(0))?;
            let selection: Option<String> = c
                .query_row("SELECT value FROM setup WHERE key = 'selection'", [], |r| r.get(0))
                .optional()?;
            let selection = match selection {
                Some(json) => from_json(&json)?,
                None => Default::default(),
            };
            let toast_compression: Option<String> = c
                .query_row("SELECT value FROM setup WHERE key = 'toast_compression'", [], |r| r.get(0))
                .optional()?;
            Ok(Some(Catalog {
                tables,
                sequences,
                large_objects,
                encoding,
                foreign_keys,
                partitioned,
                selection,
                toast_compression,
            }))
        })
    }

    pub fn start(&self, unit: &Unit, label: &str, expected_bytes: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO progress (unit, kind, label, state, started, expected_bytes) \
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5) \
                 ON CONFLICT (unit) DO UPDATE SET state = 'running', started = excluded.started, \
                   finished = NULL, bytes = 0, rows = 0, error = NULL",
                params![unit.key(), unit.kind(), label, now(), expected_bytes],
            )
            .map(|_| ())
        })
    }

    /// Record bytes flowing through a running unit (for `list progress`).
    pub fn advance(&self, unit: &Unit, bytes: u64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE progress SET bytes = ?2 WHERE unit = ?1",
                params![unit.key(), bytes as i64],
            )
            .map(|_| ())
        })
    }

    pub fn done(&self, unit: &Unit, bytes: u64, rows: u64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE progress SET state = 'done', finished = ?2, bytes = ?3, rows = ?4 WHERE unit = ?1",
                params![unit.key(), now(), bytes as i64, rows as i64],
            )
            .map(|_| ())
        })
    }

    /// Mark a unit done without having recorded its start (cheap, for many
    /// small units such as large objects).
    pub fn done_quick(&self, unit: &Unit, label: &str, bytes: u64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO progress (unit, kind, label, state, finished, bytes) \
                 VALUES (?1, ?2, ?3, 'done', ?4, ?5) \
                 ON CONFLICT (unit) DO UPDATE SET state = 'done', finished = excluded.finished",
                params![unit.key(), unit.kind(), label, now(), bytes as i64],
            )
            .map(|_| ())
        })
    }

    /// [`State::done_quick`] for many units in one commit: a batch of large
    /// objects copied in one target transaction is recorded as one.
    pub fn done_quick_many(&self, units: &[(Unit, String, u64)]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO progress (unit, kind, label, state, finished, bytes) \
                     VALUES (?1, ?2, ?3, 'done', ?4, ?5) \
                     ON CONFLICT (unit) DO UPDATE SET state = 'done', finished = excluded.finished",
                )?;
                let at = now();
                for (unit, label, bytes) in units {
                    stmt.execute(params![unit.key(), unit.kind(), label, at, *bytes as i64])?;
                }
            }
            tx.commit()
        })
    }

    pub fn failed(&self, unit: &Unit, error: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE progress SET state = 'failed', finished = ?2, error = ?3 WHERE unit = ?1",
                params![unit.key(), now(), error],
            )
            .map(|_| ())
        })
    }

    pub fn is_done(&self, unit: &Unit) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT state = 'done' FROM progress WHERE unit = ?1",
                params![unit.key()],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(false))
        })
    }

    /// Whether an earlier run started this unit (done or not).
    pub fn was_started(&self, unit: &Unit) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) > 0 FROM progress WHERE unit = ?1",
                params![unit.key()],
                |r| r.get::<_, bool>(0),
            )
        })
    }

    /// Keys of every unit an earlier run started, done or not.
    pub fn started_units(&self) -> Result<HashSet<String>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT unit FROM progress")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Keys of every unit done, for skipping them on resume in one query.
    pub fn done_units(&self) -> Result<HashSet<String>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT unit FROM progress WHERE state = 'done'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Forget what was done on the target (every unit but the schema dump,
    /// and the `target_written` mark), keeping the dump and the source
    /// catalog: a step into another target starts that target over.
    pub fn forget_target_progress(&self) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM progress WHERE unit <> 'step:dump'", [])?;
            tx.execute("DELETE FROM setup WHERE key = 'target_written'", [])?;
            tx.commit()
        })
    }

    /// How many tables the plan holds and their expected size.
    pub fn planned_tables(&self) -> Result<(usize, i64)> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM s_table",
                [],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)),
            )
        })
    }

    pub fn progress(&self) -> Result<Vec<ProgressRow>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT unit, kind, label, state, started, finished, bytes, rows, expected_bytes, error \
                   FROM progress ORDER BY started NULLS LAST, unit",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(ProgressRow {
                    unit: r.get(0)?,
                    kind: r.get(1)?,
                    label: r.get(2)?,
                    state: r.get(3)?,
                    started: r.get(4)?,
                    finished: r.get(5)?,
                    bytes: r.get(6)?,
                    rows: r.get(7)?,
                    expected_bytes: r.get(8)?,
                    error: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }
}

/// Why the state file at `path` cannot be read, in words.
pub fn reason(path: &Path, err: &anyhow::Error) -> String {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return "it is empty".into();
    }
    match err
        .chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>())
    {
        Some(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            "it is damaged (truncated or overwritten)".into()
        }
        _ => format!("{err:#}"),
    }
}

/// The failure for a state file that cannot be read: exit 3, what is wrong
/// and what to do.
pub fn unreadable(path: &Path, why: &str, what_to_do: &str) -> crate::error::Failure {
    crate::error::Failure::state(format!(
        "the run state {} cannot be read ({why}): nothing of that run can be resumed; \
         use {what_to_do}, or give another --dir",
        path.display()
    ))
}

fn to_json<T: Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, IndexConstraint};

    fn big_catalog(tables: u32, indexes_per_table: u32) -> Catalog {
        let mut catalog = Catalog {
            encoding: "UTF8".into(),
            ..Catalog::default()
        };
        for t in 0..tables {
            let oid = 100_000 + t;
            catalog.tables.push(Table {
                oid,
                schema: "public".into(),
                name: format!("t{t}"),
                persistence: 'p',
                bytes: (tables - t) as i64 * 8192,
                estimated_rows: 10.0,
                columns: vec![Column {
                    name: "id".into(),
                    type_name: "integer".into(),
                    binary_safe: true,
                    binary_not_portable: None,
                    extended: false,
                }],
                only_generated_columns: false,
                parts: Vec::new(),
                copy_data: true,
                indexes: (0..indexes_per_table)
                    .map(|i| Index {
                        oid: 1_000_000 + t * 10 + i,
                        schema: "public".into(),
                        name: format!("t{t}_i{i}"),
                        table_oid: oid,
                        definition: format!(
                            "CREATE INDEX t{t}_i{i} ON public.t{t} USING btree (id)"
                        ),
                        constraint: (i == 0).then(|| IndexConstraint {
                            oid: 2_000_000 + t,
                            name: format!("t{t}_pkey"),
                            kind: 'p',
                            deferrable: false,
                            deferred: false,
                            definition: "PRIMARY KEY (id)".into(),
                        }),
                        clustered: false,
                        replica_identity: false,
                        column_statistics: Vec::new(),
                    })
                    .collect(),
            });
        }
        catalog
    }

    #[test]
    fn catalog_round_trips_and_scales_to_ten_thousand_tables() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("s.db")).unwrap();
        let catalog = big_catalog(10_000, 5);
        state.save_catalog(&catalog).unwrap();
        let loaded = state.load_catalog().unwrap().unwrap();
        assert_eq!(loaded.tables.len(), 10_000);
        assert_eq!(loaded.index_count(), 50_000);
        assert_eq!(loaded.tables[0].name, "t0");
        assert_eq!(loaded.tables[9_999].indexes.len(), 5);
        assert!(loaded.tables[1].indexes[0].constraint.is_some());
        // Progress for every unit, then the done set in one query.
        for t in &catalog.tables {
            let unit = Unit::Table(t.oid);
            state.start(&unit, &t.name, t.bytes).unwrap();
            state.done(&unit, 10, 1).unwrap();
        }
        let done = state.done_units().unwrap();
        assert_eq!(done.len(), 10_000);
        assert!(state.is_done(&Unit::Table(100_000)).unwrap());
        assert!(!state.is_done(&Unit::Index(1)).unwrap());
    }

    #[test]
    fn reader_sees_progress_while_writer_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let writer = State::open(&path).unwrap();
        writer
            .start(&Unit::Step("pre-data"), "pre-data", 0)
            .unwrap();
        let reader = State::open_readonly(&path).unwrap();
        let rows = reader.progress().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, "running");
        writer.done(&Unit::Step("pre-data"), 0, 0).unwrap();
        assert_eq!(reader.progress().unwrap()[0].state, "done");
    }
}
