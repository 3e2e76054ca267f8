//! The sentinel: the positions a follower obeys (`startpos`, `endpos`, the
//! `apply` switch) and those it reports (`write_lsn`: received and written
//! to the store, `flush_lsn`: durably stored and told to the slot,
//! `replay_lsn`: applied to the target), plus the counters `list progress`
//! shows. One row in the work directory's SQLite state, which is in WAL
//! mode with a busy timeout, so `stream sentinel set endpos` works while a
//! follower runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::{params, OptionalExtension};
use serde_json::json;

use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::stream::lsn::Lsn;
use crate::workdir::contents::STATE_FILE;
use crate::workdir::state::State;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cdc_sentinel (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    startpos INTEGER NOT NULL DEFAULT 0, endpos INTEGER NOT NULL DEFAULT 0,
    apply INTEGER NOT NULL DEFAULT 0,
    write_lsn INTEGER NOT NULL DEFAULT 0, flush_lsn INTEGER NOT NULL DEFAULT 0,
    replay_lsn INTEGER NOT NULL DEFAULT 0,
    source_lsn INTEGER NOT NULL DEFAULT 0,
    transactions INTEGER NOT NULL DEFAULT 0, rows INTEGER NOT NULL DEFAULT 0,
    started REAL, updated REAL, caught_up INTEGER NOT NULL DEFAULT 0, last_caught_up REAL);
";

/// The sentinel's values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sentinel {
    pub startpos: Lsn,
    /// `0/0`: none.
    pub endpos: Lsn,
    pub apply: bool,
    pub write_lsn: Lsn,
    pub flush_lsn: Lsn,
    pub replay_lsn: Lsn,
    /// What the follower last reported of its work (for `list progress`).
    pub stats: FollowStats,
}

/// What a running follower reports besides positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowStats {
    /// The source's current WAL position when last asked (the follower
    /// asks it with `pg_current_wal_lsn()`; the stream only says how far
    /// the walsender has decoded).
    pub source_lsn: Lsn,
    pub transactions: u64,
    pub rows: u64,
    /// Seconds since the epoch.
    pub started: Option<f64>,
    pub updated: Option<f64>,
    /// Applied reached the source's position at `updated`.
    pub caught_up: bool,
    /// When applied last reached the source's position.
    pub last_caught_up: Option<f64>,
}

impl FollowStats {
    /// Seconds behind the source: 0 when caught up, else since it last was
    /// (or since the follow started).
    fn lag_seconds(&self) -> f64 {
        if self.caught_up {
            return 0.0;
        }
        self.last_caught_up
            .or(self.started)
            .map_or(0.0, |since| (now() - since).max(0.0))
    }

    fn per_second(&self, n: u64) -> f64 {
        match (self.started, self.updated) {
            (Some(a), Some(b)) if b > a => n as f64 / (b - a),
            _ => 0.0,
        }
    }
}

impl Sentinel {
    /// What `list progress --json` shows of the follower (key `cdc`).
    pub fn progress_json(&self) -> serde_json::Value {
        let st = &self.stats;
        json!({
            "received_lsn": self.write_lsn.to_string(),
            "stored_lsn": self.flush_lsn.to_string(),
            "applied_lsn": self.replay_lsn.to_string(),
            "source_lsn": st.source_lsn.to_string(),
            "endpos": self.endpos.to_string(),
            "lag_bytes": self.lag_bytes(),
            "lag_seconds": st.lag_seconds(),
            "caught_up": st.caught_up,
            "transactions": st.transactions,
            "rows": st.rows,
            "transactions_per_second": st.per_second(st.transactions),
            "rows_per_second": st.per_second(st.rows),
        })
    }

    /// Bytes of WAL between the source's position and what is applied: 0
    /// when caught up (the source then wrote nothing to apply since the
    /// last applied commit).
    fn lag_bytes(&self) -> u64 {
        if self.stats.caught_up {
            0
        } else {
            self.stats.source_lsn.0.saturating_sub(self.replay_lsn.0)
        }
    }

    /// The same, as one line of `list progress`.
    pub fn progress_line(&self) -> String {
        let st = &self.stats;
        format!(
            "changes: received {}, stored {}, applied {} (source at {}, lag {} bytes, {:.1}s); \
             {} transactions, {} rows applied ({:.0} tx/s, {:.0} rows/s){}",
            self.write_lsn,
            self.flush_lsn,
            self.replay_lsn,
            st.source_lsn,
            self.lag_bytes(),
            st.lag_seconds(),
            st.transactions,
            st.rows,
            st.per_second(st.transactions),
            st.per_second(st.rows),
            if st.caught_up { ", caught up" } else { "" }
        )
    }
}

impl Sentinel {
    /// As the original prints it: keys startpos, endpos, apply, write_lsn,
    /// flush_lsn, replay_lsn; LSNs as text, apply as a boolean.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "startpos": self.startpos.to_string(),
            "endpos": self.endpos.to_string(),
            "apply": self.apply,
            "write_lsn": self.write_lsn.to_string(),
            "flush_lsn": self.flush_lsn.to_string(),
            "replay_lsn": self.replay_lsn.to_string(),
        })
    }

    pub fn text(&self) -> String {
        let apply = if self.apply { "enabled" } else { "disabled" };
        format!(
            "startpos   {}\nendpos     {}\napply      {apply}\nwrite_lsn  {}\nflush_lsn  {}\nreplay_lsn {}",
            self.startpos, self.endpos, self.write_lsn, self.flush_lsn, self.replay_lsn
        )
    }

    /// The end position, when one is set.
    pub fn endpos(&self) -> Option<Lsn> {
        self.endpos.is_valid().then_some(self.endpos)
    }
}

// LSNs are stored as SQLite integers (i64): the bit pattern round-trips.
fn to_sql(lsn: Lsn) -> i64 {
    lsn.0 as i64
}
fn from_sql(v: i64) -> Lsn {
    Lsn(v as u64)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Create the sentinel table in `state` (idempotent) and its row.
pub fn ensure(state: &State) -> Result<()> {
    state.with(|c| {
        c.execute_batch(SCHEMA)?;
        c.execute("INSERT OR IGNORE INTO cdc_sentinel (id) VALUES (1)", [])?;
        Ok(())
    })
}

/// Read the sentinel from `state`; None when there is none yet.
pub fn read(state: &State) -> Result<Option<Sentinel>> {
    let exists: bool = state.with(|c| {
        c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'cdc_sentinel'",
            [],
            |r| r.get(0),
        )
    })?;
    if !exists {
        return Ok(None);
    }
    state.with(|c| {
        c.query_row(
            "SELECT startpos, endpos, apply, write_lsn, flush_lsn, replay_lsn, source_lsn, \
                    transactions, rows, started, updated, caught_up, last_caught_up \
               FROM cdc_sentinel WHERE id = 1",
            [],
            |r| {
                Ok(Sentinel {
                    startpos: from_sql(r.get(0)?),
                    endpos: from_sql(r.get(1)?),
                    apply: r.get(2)?,
                    write_lsn: from_sql(r.get(3)?),
                    flush_lsn: from_sql(r.get(4)?),
                    replay_lsn: from_sql(r.get(5)?),
                    stats: FollowStats {
                        source_lsn: from_sql(r.get(6)?),
                        transactions: r.get::<_, i64>(7)?.max(0) as u64,
                        rows: r.get::<_, i64>(8)?.max(0) as u64,
                        started: r.get(9)?,
                        updated: r.get(10)?,
                        caught_up: r.get(11)?,
                        last_caught_up: r.get(12)?,
                    },
                })
            },
        )
        .optional()
    })
}

/// Set the values a user or `clone --follow` decides.
pub fn put_control(
    state: &State,
    startpos: Option<Lsn>,
    endpos: Option<Lsn>,
    apply: Option<bool>,
) -> Result<()> {
    ensure(state)?;
    state.with(|c| {
        let tx = c.transaction()?;
        if let Some(lsn) = startpos {
            tx.execute(
                "UPDATE cdc_sentinel SET startpos = ?1",
                params![to_sql(lsn)],
            )?;
        }
        if let Some(lsn) = endpos {
            tx.execute("UPDATE cdc_sentinel SET endpos = ?1", params![to_sql(lsn)])?;
        }
        if let Some(apply) = apply {
            tx.execute("UPDATE cdc_sentinel SET apply = ?1", params![apply])?;
        }
        tx.commit()
    })
}

/// The follower's report: positions only move forward (a report from a
/// lagging task never takes one back).
pub fn report(
    state: &State,
    write: Lsn,
    flush: Lsn,
    replay: Lsn,
    stats: &FollowStats,
) -> Result<()> {
    state.with(|c| {
        c.execute(
            "UPDATE cdc_sentinel SET write_lsn = max(write_lsn, ?1), flush_lsn = max(flush_lsn, ?2), \
               replay_lsn = max(replay_lsn, ?3), source_lsn = max(source_lsn, ?4), \
               transactions = ?5, rows = ?6, started = coalesce(started, ?7), updated = ?8, \
               caught_up = ?9, last_caught_up = CASE WHEN ?9 THEN ?8 ELSE last_caught_up END",
            params![
                to_sql(write),
                to_sql(flush),
                to_sql(replay),
                to_sql(stats.source_lsn),
                stats.transactions as i64,
                stats.rows as i64,
                stats.started,
                now(),
                stats.caught_up
            ],
        )
        .map(|_| ())
    })
}

/// The source's position read at the end of a follow: recorded, and
/// "caught up" withdrawn when the source has moved past what the last report
/// judged by (SQLite reads the old row's values on the right-hand side).
pub fn report_source_at_end(state: &State, source: Lsn) -> Result<()> {
    state.with(|c| {
        c.execute(
            "UPDATE cdc_sentinel SET caught_up = caught_up AND ?1 <= source_lsn, \
               source_lsn = max(source_lsn, ?1), updated = ?2",
            params![to_sql(source), now()],
        )
        .map(|_| ())
    })
}

/// Forget the reported positions and counters (a fresh follow on a
/// directory that held another one).
pub fn reset(state: &State) -> Result<()> {
    state.with(|c| c.execute_batch("DROP TABLE IF EXISTS cdc_sentinel"))?;
    ensure(state)
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Open the state of the run in `dir` (without its lock: a follower may be
/// running), refusing a directory that holds none.
fn open_existing(dir: &Path) -> Result<State> {
    let path = state_path(dir);
    if !path.is_file() {
        return Err(Failure::state(format!(
            "no pgcopydb run in {}: run `pgcopydb stream setup` (or follow, or clone --follow) \
             with this --dir first",
            dir.display()
        ))
        .into());
    }
    State::open(&path)
}

fn open_sentinel(dir: &Path) -> Result<(State, Sentinel)> {
    let state = open_existing(dir)?;
    let sentinel = read(&state)?.ok_or_else(|| {
        Failure::state(format!(
            "no sentinel in {}: run `pgcopydb stream setup` or `pgcopydb stream sentinel setup` first",
            dir.display()
        ))
    })?;
    Ok((state, sentinel))
}

/// `stream sentinel setup <startpos> <endpos>`: creates the state when missing.
pub fn setup(dir: &Path, startpos: Lsn, endpos: Lsn) -> Result<()> {
    crate::workdir::private::create_private_dir(dir)?;
    crate::workdir::contents::refuse_foreign(dir)?;
    let state = State::open(&state_path(dir))?;
    put_control(&state, Some(startpos), Some(endpos), None)
}

/// `stream sentinel get`.
pub fn get(dir: &Path) -> Result<Sentinel> {
    Ok(open_sentinel(dir)?.1)
}

/// `stream sentinel set startpos`.
pub fn set_startpos(dir: &Path, lsn: Lsn) -> Result<()> {
    let (state, _) = open_sentinel(dir)?;
    put_control(&state, Some(lsn), None, None)
}

/// `stream sentinel set endpos`: refused when behind what is already applied
/// (the follower could never stop there).
pub fn set_endpos(dir: &Path, lsn: Lsn) -> Result<()> {
    let (state, sentinel) = open_sentinel(dir)?;
    if lsn.is_valid() && lsn < sentinel.startpos {
        return Err(Failure::args(format!(
            "endpos {lsn} is behind the start position {}: give a later LSN (or --current)",
            sentinel.startpos
        ))
        .into());
    }
    put_control(&state, None, Some(lsn), None)
}

/// `stream sentinel set apply|prefetch`.
pub fn set_apply(dir: &Path, apply: bool) -> Result<()> {
    let (state, _) = open_sentinel(dir)?;
    put_control(&state, None, None, Some(apply))
}

/// The source's current WAL flush position (`--current`), once every
/// transaction committed so far is flushed: under `synchronous_commit = off`
/// a commit is visible before its record is flushed, and the flush position
/// alone would put endpos before (or in the middle of) the last commits.
/// A transactional logical message committed with `synchronous_commit =
/// local` flushes the WAL up to its own commit, which follows theirs (the
/// applier ignores messages).
pub async fn source_current_lsn(source: &ConnInfo) -> Result<Lsn> {
    use crate::connections::{connect, Side};
    let client = connect(Side::Source, source).await?;
    if let Err(e) = client
        .batch_execute(
            "SET synchronous_commit = local; \
             SELECT pg_catalog.pg_logical_emit_message(true, 'pgcopydb', 'endpos')",
        )
        .await
    {
        tracing::warn!(
            "cannot flush the source's WAL before reading its position ({}): transactions \
             committed without a flush may land after endpos",
            crate::connections::db_error_message(&e)
        );
    }
    let text: String = client
        .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
        .await
        .map_err(|e| {
            Side::Source.failure_of(
                &e,
                format!(
                    "cannot read the source's current WAL position: {}",
                    crate::connections::db_error_message(&e)
                ),
            )
        })?
        .try_get(0)?;
    Ok(text.parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_connection_sets_endpos_while_the_follower_reports() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path(), Lsn(0x100), Lsn::INVALID).unwrap();
        let follower = State::open(&state_path(dir.path())).unwrap();
        let stats = FollowStats {
            transactions: 3,
            rows: 7,
            ..FollowStats::default()
        };
        report(&follower, Lsn(0x300), Lsn(0x200), Lsn(0x150), &stats).unwrap();
        set_endpos(dir.path(), Lsn(0x400)).unwrap();
        // A late report never moves a position back.
        report(&follower, Lsn(0x250), Lsn(0x200), Lsn(0x150), &stats).unwrap();
        let s = read(&follower).unwrap().unwrap();
        assert_eq!(s.endpos(), Some(Lsn(0x400)));
        assert_eq!(
            (s.write_lsn, s.flush_lsn, s.replay_lsn),
            (Lsn(0x300), Lsn(0x200), Lsn(0x150))
        );
        assert_eq!((s.stats.transactions, s.stats.rows), (3, 7));
        let keys: Vec<String> = s.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "apply",
                "endpos",
                "flush_lsn",
                "replay_lsn",
                "startpos",
                "write_lsn"
            ]
        );
        assert_eq!(s.json()["startpos"], "0/100");
        assert!(set_endpos(dir.path(), Lsn(0x10)).is_err());
        set_apply(dir.path(), true).unwrap();
        assert!(get(dir.path()).unwrap().apply);
    }

    #[test]
    fn no_run_no_sentinel() {
        let dir = tempfile::tempdir().unwrap();
        let err = get(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("no pgcopydb run"), "{err:#}");
    }
}
