//! Applying the change stream to the target: one target transaction per
//! source transaction, in commit order, each advancing the replication
//! origin in its own commit, so that a restart skips exactly what is in.
//!
//! Use: [`Applier::connect`], then [`Applier::apply`] for every [`Change`]
//! in stream order (a transaction is committed at its `Commit`), then
//! [`Applier::close`]. [`origin::setup`] and [`origin::drop`] manage the
//! origin outside a run.
//!
//! Speed: statements are pipelined (sent without waiting for the previous
//! answer, see [`pipeline`]), across transactions too; a run of INSERTs into
//! one table goes through `COPY FROM STDIN` once it is long enough. A
//! transaction is never held in memory: what is in flight is bounded.
//!
//! Pipelining across commits is safe: when a statement fails, the origin
//! update and COMMIT sent with it in one message are not run, the session
//! stays in the failed transaction and everything sent after it fails. A
//! failure at COMMIT itself (a deferred check) leaves the session idle, so
//! each transaction sent while an earlier one is unanswered starts with a
//! guard that fails unless the session's origin is exactly where the
//! previous commit put it. The first error is the one reported. An UPDATE
//! or DELETE that touches no row, or several, is not an error to the
//! server: its count is read from the command tag, and a commit waits until
//! every count of its transaction is read (one wait per commit group, see
//! group.rs), so such a transaction never commits.
//!
//! Durability: the target session runs with `synchronous_commit = off`. A
//! target crash can lose the last commits, but the origin position lives in
//! the same commit records, so it goes back with them and those
//! transactions are applied again. What must never be discarded on the
//! strength of a position (the store's segments, the slot's flush position)
//! may only follow [`Applier::progress`], which reads the flushed position.

mod copy;
mod deletes;
mod group;
pub mod origin;
pub mod param;
mod pipeline;
mod rows;
mod settle;
pub mod statement;
pub mod target;
mod transaction;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};

pub use self::copy::COPY_THRESHOLD;
use self::copy::{Copy, Run};
use self::deletes::Deletes;
use self::group::Group;
use self::pipeline::Pipeline;
use self::rows::Prepared;
use self::settle::Entry;
use self::statement::Op;
use self::target::TargetTable;
use self::transaction::{Deferred, Tx};
use super::change::{Change, RelId, Relation};
use super::lsn::Lsn;
use crate::connections;
use crate::conninfo::ConnInfo;
use crate::error::Failure;

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Source transactions committed on the target.
    pub transactions: u64,
    /// Rows inserted, updated or deleted by those transactions.
    pub rows: u64,
    /// Transactions already on the target (at or below the origin's
    /// position), not applied again.
    pub skipped: u64,
    /// UPDATEs and DELETEs that found no row (only with
    /// [`Applier::tolerate_missing_rows`]; otherwise they stop the apply).
    pub missing_rows: u64,
}

/// Bounds of a commit group (see group.rs): what a failure rolls back and
/// applies again, and how long the target's locks are held.
pub const GROUP_TRANSACTIONS: u64 = 256;
/// Overrides [`GROUP_TRANSACTIONS`] (1: each source transaction committed
/// alone, as the crash tests that count commits need).
pub const GROUP_TRANSACTIONS_ENV: &str = "PGCOPYDB_APPLY_GROUP_TRANSACTIONS";
pub const GROUP_ROWS: u64 = 10_000;

/// The levers of apply speed, for measurements (bench/stream-apply); the
/// default is what wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Statements sent before the first is answered (1: no pipelining).
    pub max_in_flight: usize,
    /// INSERTs in a row into one table after which COPY takes over
    /// (`None`: never).
    pub copy_after: Option<u64>,
    /// Source transactions committed together in one target transaction
    /// at most (1: each alone), see group.rs.
    pub group_transactions: u64,
    /// A group is committed once its rows reach this many.
    pub group_rows: u64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            max_in_flight: pipeline::MAX_STATEMENTS,
            copy_after: Some(COPY_THRESHOLD),
            group_transactions: std::env::var(GROUP_TRANSACTIONS_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(GROUP_TRANSACTIONS),
            group_rows: GROUP_ROWS,
        }
    }
}

pub struct Applier {
    origin: String,
    /// For catalog lookups and the origin's position (another session).
    client: tokio_postgres::Client,
    /// The session that applies, attached to the origin.
    pipeline: Pipeline<Entry>,
    /// Position of the last transaction sent for commit (or the origin's at
    /// connect): the guard of the next transaction, and the skip line.
    committed: Lsn,
    relations: HashMap<RelId, Rel>,
    /// Prepared shapes by table and operation: the roles of each table's
    /// columns tell them apart (looked up per row without allocating).
    statements: HashMap<(RelId, Op), Vec<Shape>>,
    tx: Option<Tx>,
    next_seq: u64,
    /// Transactions whose first error waits for their commit: their
    /// `final_lsn` was unknown, so they may be ones already applied (then
    /// their errors are expected: duplicate keys, missing rows).
    deferred: HashMap<u64, Deferred>,
    copy: Option<Copy>,
    run: Option<Run>,
    /// DELETEs by key gathered, not sent yet.
    deletes: Option<Deletes>,
    /// Committed source transactions whose target transaction is open.
    group: Option<Group>,
    /// UPDATEs or DELETEs are in flight whose row counts are not read yet:
    /// a COMMIT must wait for them (see group.rs).
    counts_unread: bool,
    tolerate_missing_rows: bool,
    tuning: Tuning,
    stats: ApplyStats,
    failed: bool,
}

/// The roles of a table's columns in a statement, and the statement
/// prepared for them.
type Shape = (Vec<u8>, Arc<Prepared>);

struct Rel {
    relation: Arc<Relation>,
    target: Option<Arc<TargetTable>>,
}

impl Applier {
    /// Connect to the target as a worker (the session settings every target
    /// connection gets), with triggers and foreign keys left to the source's
    /// judgement (`session_replication_role = replica`, as native logical
    /// replication does), and attach to the origin `origin`, creating it
    /// when missing.
    pub async fn connect(target: &ConnInfo, origin: &str) -> Result<Applier> {
        // Catalog lookups and the origin's creation and position go through
        // tokio-postgres; the session that applies (the pipeline) is our own
        // protocol encoding, see pipeline.rs. The two sessions are opened
        // and set up together: start-up waits for the longer, not the sum.
        let catalog_session = async {
            let client = connections::connect_target_worker(target).await?;
            origin::ensure(&client, origin).await?;
            anyhow::Ok(client)
        };
        let (client, mut pipeline) =
            tokio::try_join!(catalog_session, Self::applying_session(target))?;
        // The origin exists now (ensured above): attach while reading its position.
        let (committed, ()) = tokio::try_join!(
            origin::progress(&client, origin, false),
            origin::attach_session(&mut pipeline, origin)
        )?;
        Ok(Applier {
            origin: origin.to_string(),
            client,
            pipeline,
            committed,
            relations: HashMap::new(),
            statements: HashMap::new(),
            tx: None,
            next_seq: 0,
            deferred: HashMap::new(),
            copy: None,
            run: None,
            deletes: None,
            group: None,
            counts_unread: false,
            tolerate_missing_rows: false,
            tuning: Tuning::default(),
            stats: ApplyStats::default(),
            failed: false,
        })
    }

    /// The session that applies, with the target session settings and
    /// `session_replication_role = replica` (not yet attached to the origin).
    async fn applying_session(target: &ConnInfo) -> Result<Pipeline<Entry>> {
        let mut pipeline = Pipeline::connect(target).await?;
        pipeline
            .query(connections::TARGET_SESSION_SETTINGS)
            .await
            .context("setting up the applier's session on the target")?;
        pipeline
            .query("SET session_replication_role = replica")
            .await
            .map_err(|e| {
                Failure::new(
                    e.kind,
                    crate::error::Side::Target,
                    format!(
                        "cannot set session_replication_role = replica on the target: {}; \
                         applying changes needs a superuser on the target",
                        e.message
                    ),
                )
            })?;
        Ok(pipeline)
    }

    /// Warn about (and count) an UPDATE or DELETE that finds no row instead
    /// of stopping. Only for runs whose target is known not to be an exact
    /// copy (`--not-consistent`): otherwise a missing row means the target
    /// already differs from the source, and going on would hide it.
    pub fn tolerate_missing_rows(&mut self, tolerate: bool) {
        self.tolerate_missing_rows = tolerate;
    }

    pub fn set_tuning(&mut self, tuning: Tuning) {
        self.pipeline.set_max_statements(tuning.max_in_flight);
        self.tuning = tuning;
    }

    /// The origin's durable position (see the module's comment), after every
    /// statement sent so far is answered.
    pub async fn progress(&mut self) -> Result<Lsn> {
        self.flush().await?;
        origin::progress(&self.client, &self.origin, true).await
    }

    /// Position of the last transaction committed (or skipped) so far, as
    /// sent or grouped: may be ahead of what the target has answered or
    /// flushed.
    pub fn applied_lsn(&self) -> Lsn {
        self.committed
    }

    pub fn stats(&self) -> ApplyStats {
        self.stats
    }

    /// The stream has nothing more for now: commit the source transactions
    /// grouped so far (see group.rs) rather than hold them for the next.
    /// Statements may still be in flight on return.
    pub async fn idle(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.tx.is_some() {
            return Ok(());
        }
        let result = self.end_group().await;
        self.poison(result)
    }

    /// Wait for every statement sent so far (between source transactions,
    /// the open group's commit included); the first failure is returned.
    pub async fn flush(&mut self) -> Result<()> {
        self.idle().await?;
        let result = self.settle_all().await;
        self.poison(result)
    }

    /// Flush, roll back a transaction left open, and detach from the origin.
    pub async fn close(mut self) -> Result<ApplyStats> {
        self.flush().await?;
        // An unfinished COPY is aborted when dropped.
        self.copy = None;
        if self.tx.take().is_some() {
            self.deletes = None;
            // The group it would have joined goes with it: its members'
            // positions were never committed, so they are applied again.
            self.group = None;
            self.pipeline.query("ROLLBACK").await?;
        }
        self.pipeline
            .query("SELECT pg_catalog.pg_replication_origin_session_reset()")
            .await?;
        Ok(self.stats)
    }

    /// Apply one change. Statements may still be in flight on return; a
    /// failure shows at the latest at the next `flush`, `progress` or
    /// `close`, and the applier is then unusable (reconnect and resume).
    pub async fn apply(&mut self, change: Change) -> Result<()> {
        self.check_usable()?;
        let result = self.dispatch(change).await;
        let result = match result {
            Ok(()) => Ok(()),
            Err(e) => match self.defer(e) {
                Ok(()) => Ok(()),
                // Report the first failure on the wire rather than this
                // one, which may only be its consequence.
                Err(e) => Err(self.settle_all().await.err().unwrap_or(e)),
            },
        };
        self.poison(result)
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(anyhow!(
                "the applier stopped on an earlier error; connect again to resume"
            ));
        }
        Ok(())
    }

    fn poison<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn dispatch(&mut self, change: Change) -> Result<()> {
        match change {
            Change::Relation(relation) => self.relation(relation).await,
            Change::Message { .. } => Ok(()),
            Change::Begin { xid, final_lsn, .. } => self.begin(xid, final_lsn).await,
            Change::Commit {
                end_lsn,
                commit_time,
                ..
            } => self.commit(end_lsn, commit_time).await,
            Change::Insert { relation, new } => {
                if self.skipping()? {
                    return Ok(());
                }
                self.send_deletes().await?;
                self.insert(relation, new).await
            }
            Change::Update { relation, old, new } => {
                if self.skipping()? {
                    return Ok(());
                }
                self.end_copy().await?;
                self.run = None;
                self.send_deletes().await?;
                self.locate(Op::Update, relation, old.as_ref(), Some(&new))
                    .await
            }
            Change::Delete { relation, old } => {
                if self.skipping()? {
                    return Ok(());
                }
                self.end_copy().await?;
                self.run = None;
                self.locate(Op::Delete, relation, Some(&old), None).await
            }
            Change::Truncate {
                relations,
                cascade,
                restart_identity,
            } => {
                if self.skipping()? {
                    return Ok(());
                }
                self.end_copy().await?;
                self.run = None;
                self.send_deletes().await?;
                self.truncate(&relations, cascade, restart_identity).await
            }
        }
    }

    async fn relation(&mut self, relation: Arc<Relation>) -> Result<()> {
        let id = relation.id;
        if self
            .relations
            .get(&id)
            .is_some_and(|r| r.relation == relation)
        {
            return Ok(());
        }
        // A new shape of the table (DDL on the source, even within a
        // transaction): its statements are prepared again, and a COPY
        // into it (or a run of DELETEs) ends with the columns it started
        // with.
        self.send_deletes().await?;
        let stale: Vec<String> = self
            .statements
            .iter()
            .filter(|((rel, _), _)| *rel == id)
            .flat_map(|(_, shapes)| shapes.iter().map(|(_, p)| p.statement.clone()))
            .collect();
        self.statements.retain(|(rel, _), _| *rel != id);
        for name in stale {
            self.pipeline.close_statement(&name);
        }
        if self.copy.as_ref().is_some_and(|c| c.relation == id) {
            self.end_copy().await?;
        }
        self.run = None;
        self.relations.insert(
            id,
            Rel {
                relation,
                target: None,
            },
        );
        Ok(())
    }
}
