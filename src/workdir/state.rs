//! The run's state in SQLite (`<dir>/pgcopydb.db`). One file holds two
//! stores with narrow types of their own:
//! - the [`CatalogStore`] ([`catalog_store`]): the setup that shaped the plan
//!   and the source catalog as read under the snapshot;
//! - the [`Ledger`] ([`ledger`]): the progress of every unit of work.
//!
//! This module opens the file, creates its tables and checks it. One
//! connection in WAL mode serves the whole process (writes are tiny and
//! serialised by a mutex, so there is never a "database is locked"); other
//! processes (`list progress`) read concurrently.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

pub mod catalog_store;
pub mod ledger;

pub use catalog_store::CatalogStore;
pub use ledger::{Ledger, ProgressRow, Unit};

// Tables are only ever added (CREATE ... IF NOT EXISTS), so that a state
// written by an earlier version opens as it is.
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

/// The state file's one connection, shared by its stores.
#[derive(Clone)]
pub(crate) struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Run `f` on the connection.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = crate::sync::lock(&self.0);
        Ok(f(&mut conn)?)
    }
}

/// An open state file.
pub struct State {
    db: Db,
    catalog: CatalogStore,
    ledger: Ledger,
}

impl State {
    fn over(conn: Connection) -> State {
        let db = Db(Arc::new(Mutex::new(conn)));
        State {
            catalog: CatalogStore::new(db.clone()),
            ledger: Ledger::new(db.clone()),
            db,
        }
    }

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
            if !existed {
                // A new file holds nothing to lose: switching it to WAL and
                // creating its tables need no fsync (SQLite would do six).
                // They stay atomic against a crash of this process; a
                // crash of the machine may leave the file empty or torn,
                // which the next run refuses as unreadable (`--restart`).
                conn.pragma_update(None, "synchronous", "off")?;
            }
            conn.pragma_update(None, "journal_mode", "wal")?;
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
            // One transaction: a state has all its tables or none.
            conn.execute_batch(&format!("BEGIN;{SCHEMA}COMMIT;"))?;
            conn.pragma_update(None, "synchronous", "normal")?;
            Ok(conn)
        };
        let conn = open().map_err(|e| {
            let why = reason(path, &e.into());
            unreadable(path, &why, "--restart to start over")
        })?;
        Ok(State::over(conn))
    }

    /// Open for reading only, while a run may be writing.
    pub fn open_readonly(path: &Path) -> Result<State> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening the run state {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(State::over(conn))
    }

    /// Fail when SQLite finds the file damaged (a truncated file can open
    /// and answer small queries from its first pages).
    pub fn check(&self) -> Result<()> {
        let verdict: String = self
            .db
            .with(|c| c.query_row("PRAGMA quick_check", [], |r| r.get(0)))?;
        if verdict != "ok" {
            anyhow::bail!(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(verdict),
            ));
        }
        Ok(())
    }

    /// The setup entries and the saved catalog.
    pub fn catalog(&self) -> &CatalogStore {
        &self.catalog
    }

    /// The progress of the units of work.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Forget what was done on the target (every unit but the schema dump,
    /// and the `target_written` mark), keeping the dump and the source
    /// catalog: a step into another target starts that target over. It
    /// spans both stores, in one transaction.
    pub fn forget_target_progress(&self) -> Result<()> {
        self.db.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM progress WHERE unit <> 'step:dump'", [])?;
            tx.execute("DELETE FROM setup WHERE key = 'target_written'", [])?;
            tx.commit()
        })
    }

    /// Run `f` on the state's connection (modules keeping their own tables
    /// in the state, such as the CDC sentinel, go through here).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.db.with(f)
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
