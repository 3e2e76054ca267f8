//! The progress ledger: one row per unit of work (a table, a part, an
//! index, a step...), started, done or failed. A resume skips what it finds
//! done here; `list progress` reads it while a run writes it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::Db;
use crate::report::costs::{Cost, Costs};

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

/// The progress of every unit of work of a run.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    /// The time its writes take, counted with the data phase's costs.
    costs: Arc<Costs>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Ledger {
    pub(super) fn new(db: Db) -> Ledger {
        Ledger {
            db,
            costs: Arc::default(),
        }
    }

    /// The counters its writes add to, shared with the data phase.
    pub fn costs(&self) -> &Arc<Costs> {
        &self.costs
    }

    /// A write of the state, timed.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = self.db.with(f);
        self.costs.since(Cost::StateWrites, started);
        result
    }

    pub fn start(&self, unit: &Unit, label: &str, expected_bytes: i64) -> Result<()> {
        self.write(|c| {
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

    /// The start/work/record pattern of every unit: record `unit` started,
    /// run `work`; once it succeeded, `finish` (the moment between the work
    /// committed and its record, where a failpoint may sit) gives the bytes
    /// and rows the unit is recorded done with. The outer error is the
    /// recording's (`finish`'s, or the state cannot be written: the unit
    /// stays running for a resume), the inner one the work's, for the
    /// caller to record as it sees fit.
    pub async fn recorded<T>(
        &self,
        unit: &Unit,
        label: &str,
        expected_bytes: i64,
        work: impl std::future::Future<Output = Result<T>>,
        finish: impl FnOnce(&T) -> Result<(u64, u64)>,
    ) -> Result<Result<T>> {
        self.start(unit, label, expected_bytes)?;
        match work.await {
            Ok(value) => {
                let (bytes, rows) = finish(&value)?;
                self.done(unit, bytes, rows)?;
                Ok(Ok(value))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// [`Ledger::start`] for many units in one commit: the tables of a
    /// group copied in one target transaction.
    pub fn start_many(&self, units: &[(Unit, String, i64)]) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO progress (unit, kind, label, state, started, expected_bytes) \
                     VALUES (?1, ?2, ?3, 'running', ?4, ?5) \
                     ON CONFLICT (unit) DO UPDATE SET state = 'running', started = excluded.started, \
                       finished = NULL, bytes = 0, rows = 0, error = NULL",
                )?;
                let at = now();
                for (unit, label, expected) in units {
                    stmt.execute(params![unit.key(), unit.kind(), label, at, expected])?;
                }
            }
            tx.commit()
        })
    }

    /// [`Ledger::done`] for many units in one commit, once the one target
    /// transaction they shared is committed: `(unit, bytes, rows)`.
    pub fn done_many(&self, units: &[(Unit, u64, u64)]) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "UPDATE progress SET state = 'done', finished = ?2, bytes = ?3, rows = ?4 \
                     WHERE unit = ?1",
                )?;
                let at = now();
                for (unit, bytes, rows) in units {
                    stmt.execute(params![unit.key(), at, *bytes as i64, *rows as i64])?;
                }
            }
            tx.commit()
        })
    }

    /// Record bytes flowing through a running unit (for `list progress`).
    pub fn advance(&self, unit: &Unit, bytes: u64) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE progress SET bytes = ?2 WHERE unit = ?1",
                params![unit.key(), bytes as i64],
            )
            .map(|_| ())
        })
    }

    pub fn done(&self, unit: &Unit, bytes: u64, rows: u64) -> Result<()> {
        self.write(|c| {
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
        self.write(|c| {
            c.execute(
                "INSERT INTO progress (unit, kind, label, state, finished, bytes) \
                 VALUES (?1, ?2, ?3, 'done', ?4, ?5) \
                 ON CONFLICT (unit) DO UPDATE SET state = 'done', finished = excluded.finished",
                params![unit.key(), unit.kind(), label, now(), bytes as i64],
            )
            .map(|_| ())
        })
    }

    /// [`Ledger::done_quick`] for many units in one commit: a batch of large
    /// objects copied in one target transaction is recorded as one.
    pub fn done_quick_many(&self, units: &[(Unit, String, u64)]) -> Result<()> {
        self.write(|c| {
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
        self.write(|c| {
            c.execute(
                "UPDATE progress SET state = 'failed', finished = ?2, error = ?3 WHERE unit = ?1",
                params![unit.key(), now(), error],
            )
            .map(|_| ())
        })
    }

    pub fn is_done(&self, unit: &Unit) -> Result<bool> {
        self.db.with(|c| {
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
        self.db.with(|c| {
            c.query_row(
                "SELECT count(*) > 0 FROM progress WHERE unit = ?1",
                params![unit.key()],
                |r| r.get::<_, bool>(0),
            )
        })
    }

    /// Keys of every unit an earlier run started, done or not.
    pub fn started_units(&self) -> Result<HashSet<String>> {
        self.db.with(|c| {
            let mut stmt = c.prepare("SELECT unit FROM progress")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Keys of every unit done, for skipping them on resume in one query.
    pub fn done_units(&self) -> Result<HashSet<String>> {
        self.db.with(|c| {
            let mut stmt = c.prepare("SELECT unit FROM progress WHERE state = 'done'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// How long each index build and constraint attach that is done took,
    /// in ms, by unit key: what the summary shows of them, without reading
    /// every row of a run of ten thousand tables.
    pub fn build_times(&self) -> Result<HashMap<String, u64>> {
        self.db.with(|c| {
            let mut stmt = c.prepare(
                "SELECT unit, max(finished - started, 0) * 1000 FROM progress \
                  WHERE state = 'done' AND kind IN (?1, ?2) \
                    AND started IS NOT NULL AND finished IS NOT NULL",
            )?;
            let kinds = [Unit::Index(0).kind(), Unit::Constraints(0).kind()];
            let rows = stmt.query_map(kinds, |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)? as u64))
            })?;
            rows.collect()
        })
    }

    pub fn progress(&self) -> Result<Vec<ProgressRow>> {
        self.db.with(|c| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workdir::state::State;

    #[test]
    fn reader_sees_progress_while_writer_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let writer = State::open(&path).unwrap();
        writer
            .ledger()
            .start(&Unit::Step("pre-data"), "pre-data", 0)
            .unwrap();
        let reader = State::open_readonly(&path).unwrap();
        let rows = reader.ledger().progress().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, "running");
        writer.ledger().done(&Unit::Step("pre-data"), 0, 0).unwrap();
        assert_eq!(reader.ledger().progress().unwrap()[0].state, "done");
    }

    #[test]
    fn build_times_are_those_of_finished_index_and_constraint_units() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("s.db")).unwrap();
        let ledger = state.ledger();
        for unit in [Unit::Index(1), Unit::Constraints(2), Unit::Table(3)] {
            ledger.start(&unit, "t", 0).unwrap();
            ledger.done(&unit, 0, 0).unwrap();
        }
        ledger.start(&Unit::Index(4), "running", 0).unwrap();
        let times = ledger.build_times().unwrap();
        let mut keys: Vec<&str> = times.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["constraints:2", "index:1"]);
    }
}
