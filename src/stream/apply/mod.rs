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
//! previous commit put it. The first error is the one reported.
//!
//! Durability: the target session runs with `synchronous_commit = off`. A
//! target crash can lose the last commits, but the origin position lives in
//! the same commit records, so it goes back with them and those
//! transactions are applied again. What must never be discarded on the
//! strength of a position (the store's segments, the slot's flush position)
//! may only follow [`Applier::progress`], which reads the flushed position.

pub mod origin;
pub mod param;
mod pipeline;
pub mod statement;
pub mod target;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::{CopyInSink, Statement};

use self::param::Param;
use self::pipeline::Pipeline;
use self::statement::{role, Op};
use self::target::TargetTable;
use super::change::{Change, OldTuple, RelId, Relation, ReplicaIdentity, Value};
use super::lsn::Lsn;
use crate::connections;
use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::sql::quote_ident;

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

/// INSERTs in a row into one table (same columns) within a transaction
/// after which the rest of the run goes through COPY: COPY costs a drained
/// pipeline and a round trip to start and one to finish. Measured with
/// bench/stream-apply (runs of N INSERTs per transaction, rows/s all by
/// COPY against all pipelined, two sittings on a loaded 2-core machine):
/// N = 16: 0.4–0.5×, 64: 0.9–1.5×, 256: 1.6–2.4×, 1024: 1.9–2.7×.
pub const COPY_THRESHOLD: u64 = 128;

/// The levers of apply speed, for measurements (bench/stream-apply); the
/// default is what wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Statements sent before the first is answered (1: no pipelining).
    pub max_in_flight: usize,
    /// INSERTs in a row into one table after which COPY takes over
    /// (`None`: never).
    pub copy_after: Option<u64>,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            max_in_flight: pipeline::MAX_STATEMENTS,
            copy_after: Some(COPY_THRESHOLD),
        }
    }
}

/// Bytes of COPY data sent to the server at once.
const COPY_CHUNK: usize = 64 << 10;

pub struct Applier {
    origin: String,
    pipeline: Pipeline<Entry>,
    /// Position of the last transaction sent for commit (or the origin's at
    /// connect): the guard of the next transaction, and the skip line.
    committed: Lsn,
    relations: HashMap<RelId, Rel>,
    statements: HashMap<(RelId, Op, Vec<u8>), Arc<Prepared>>,
    tx: Option<Tx>,
    next_seq: u64,
    /// Transactions whose first error waits for their commit: their
    /// `final_lsn` was unknown, so they may be ones already applied (then
    /// their errors are expected: duplicate keys, missing rows).
    deferred: HashMap<u64, Deferred>,
    copy: Option<Copy>,
    run: Option<Run>,
    tolerate_missing_rows: bool,
    tuning: Tuning,
    stats: ApplyStats,
    failed: bool,
}

struct Rel {
    relation: Arc<Relation>,
    target: Option<Arc<TargetTable>>,
}

/// A prepared shape and what an error message needs to describe its rows.
struct Prepared {
    statement: Statement,
    op: Op,
    table: String,
    /// Names of the matched columns, and the index of the first parameter
    /// that matches (the ones before it are written).
    key_names: Vec<String>,
    first_key_param: usize,
    /// Expect exactly one row (UPDATE, DELETE).
    one_row: bool,
}

struct Tx {
    seq: u64,
    xid: u32,
    /// Already applied: changes are read and dropped until the commit.
    skip: bool,
    /// Failed while it may be a repeat (see `deferred`): changes are read
    /// and dropped until the commit decides.
    broken: bool,
    rows: u64,
}

#[derive(Default)]
struct Deferred {
    error: Option<anyhow::Error>,
}

/// The INSERT run being counted toward [`COPY_THRESHOLD`].
struct Run {
    relation: RelId,
    roles: Vec<u8>,
    length: u64,
}

struct Copy {
    relation: RelId,
    roles: Vec<u8>,
    table: String,
    sink: Pin<Box<CopyInSink<Bytes>>>,
    buffer: BytesMut,
    rows: u64,
}

/// What a statement in flight was, to settle its result.
struct Entry {
    seq: u64,
    kind: Kind,
}

enum Kind {
    /// BEGIN (and the guard): no rows expected.
    Control(&'static str),
    Row {
        prepared: Arc<Prepared>,
        params: Arc<Vec<Param>>,
        xid: u32,
    },
    Truncate {
        tables: String,
        xid: u32,
    },
    Commit {
        end_lsn: Lsn,
        rows: u64,
    },
    Rollback,
}

impl Applier {
    /// Connect to the target as a worker (the session settings every target
    /// connection gets), with triggers and foreign keys left to the source's
    /// judgement (`session_replication_role = replica`, as native logical
    /// replication does), and attach to the origin `origin`, creating it
    /// when missing.
    pub async fn connect(target: &ConnInfo, origin: &str) -> Result<Applier> {
        let client = connections::connect_target_worker(target).await?;
        client
            .batch_execute("SET session_replication_role = replica")
            .await
            .map_err(|e| {
                Failure::target(format!(
                    "cannot set session_replication_role = replica on the target: {}; \
                     applying changes needs a superuser on the target",
                    connections::db_error_message(&e)
                ))
            })?;
        origin::ensure(&client, origin).await?;
        origin::attach(&client, origin).await?;
        let committed = origin::progress(&client, origin, false).await?;
        Ok(Applier {
            origin: origin.to_string(),
            pipeline: Pipeline::new(Arc::new(client)),
            committed,
            relations: HashMap::new(),
            statements: HashMap::new(),
            tx: None,
            next_seq: 0,
            deferred: HashMap::new(),
            copy: None,
            run: None,
            tolerate_missing_rows: false,
            tuning: Tuning::default(),
            stats: ApplyStats::default(),
            failed: false,
        })
    }

    /// Warn about (and count) an UPDATE or DELETE that finds no row instead
    /// of stopping. Only for runs whose target is known not to be an exact
    /// copy (`--not-consistent`): otherwise a missing row means the target
    /// already differs from the source, and going on would hide it.
    pub fn tolerate_missing_rows(&mut self, tolerate: bool) {
        if tolerate != self.tolerate_missing_rows {
            // UPDATE and DELETE are written differently (see `checked`).
            self.statements.clear();
        }
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
        origin::progress(self.pipeline.client(), &self.origin, true).await
    }

    /// Position of the last transaction committed (or skipped) so far, as
    /// sent: may be ahead of what the target has answered or flushed.
    pub fn applied_lsn(&self) -> Lsn {
        self.committed
    }

    pub fn stats(&self) -> ApplyStats {
        self.stats
    }

    /// Wait for every statement sent so far; the first failure is returned.
    pub async fn flush(&mut self) -> Result<()> {
        self.check_usable()?;
        let result = self.settle_all().await;
        self.poison(result)
    }

    /// Flush, roll back a transaction left open, and detach from the origin.
    pub async fn close(mut self) -> Result<ApplyStats> {
        self.flush().await?;
        // An unfinished COPY is aborted when dropped.
        self.copy = None;
        let client = self.pipeline.client();
        if self.tx.take().is_some() {
            client.batch_execute("ROLLBACK").await?;
        }
        client
            .batch_execute("SELECT pg_catalog.pg_replication_origin_session_reset()")
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

    /// Keep `error` for the commit of the current transaction when that
    /// transaction may be one already applied, and drop its other changes.
    fn defer(&mut self, error: anyhow::Error) -> Result<()> {
        let Some(tx) = &mut self.tx else {
            return Err(error);
        };
        let Some(d) = self.deferred.get_mut(&tx.seq) else {
            return Err(error);
        };
        d.error.get_or_insert(error);
        tx.broken = true;
        // Dropping an unfinished COPY aborts it.
        self.copy = None;
        self.run = None;
        Ok(())
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
                self.insert(relation, new).await
            }
            Change::Update { relation, old, new } => {
                if self.skipping()? {
                    return Ok(());
                }
                self.end_copy().await?;
                self.run = None;
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
                self.truncate(&relations, cascade, restart_identity).await
            }
        }
    }

    /// Whether the current transaction's changes are dropped; an error
    /// outside a transaction.
    fn skipping(&self) -> Result<bool> {
        match &self.tx {
            Some(tx) => Ok(tx.skip || tx.broken),
            None => Err(anyhow!(
                "a change arrived outside a transaction (no BEGIN before it): the stream is \
                 out of order"
            )),
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
        // into it ends with the columns it started with.
        self.statements.retain(|(rel, ..), _| *rel != id);
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

    async fn begin(&mut self, xid: u32, final_lsn: Option<Lsn>) -> Result<()> {
        if self.tx.is_some() {
            return Err(anyhow!(
                "source transaction {xid} begins before the previous one committed: the stream \
                 is out of order"
            ));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        // Commit records are in WAL order: a transaction is in when its
        // commit record starts before the end of the last one applied.
        let skip = final_lsn.is_some_and(|lsn| lsn < self.committed);
        let deferred = final_lsn.is_none();
        self.tx = Some(Tx {
            seq,
            xid,
            skip,
            broken: false,
            rows: 0,
        });
        if skip {
            return Ok(());
        }
        if deferred {
            self.deferred.insert(seq, Deferred::default());
        }
        // One message (simple query), one round trip's worth of work for
        // the server. When the previous transaction's outcome is still
        // unknown, the guard (see the module's comment) comes with it:
        // division by zero unless the origin is where that commit put it.
        let sql = if self.pipeline.is_empty() {
            "BEGIN".to_string()
        } else {
            format!(
                "BEGIN; SELECT 1 / (pg_catalog.pg_replication_origin_session_progress(false) \
                 = '{}'::pg_catalog.pg_lsn)::int",
                self.committed
            )
        };
        self.pipeline.simple(sql, Entry::control(seq, "BEGIN"));
        self.make_room().await
    }

    async fn commit(&mut self, end_lsn: Lsn, commit_time: Option<i64>) -> Result<()> {
        if self.tx.is_none() {
            return Err(anyhow!(
                "a commit at {end_lsn} arrived outside a transaction: the stream is out of order"
            ));
        }
        self.end_copy().await?;
        self.run = None;
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        if tx.skip {
            self.stats.skipped += 1;
            return Ok(());
        }
        if end_lsn <= self.committed {
            // Known only now (no final_lsn at BEGIN): already applied.
            self.pipeline
                .simple("ROLLBACK".to_string(), Entry::new(tx.seq, Kind::Rollback));
            return self.make_room().await;
        }
        if let Some(d) = self.deferred.get_mut(&tx.seq) {
            if let Some(error) = d.error.take() {
                return Err(error);
            }
        }
        // From here on the transaction's errors are its own.
        self.deferred.remove(&tx.seq);
        // The origin's position goes into the commit record itself. Should
        // the SELECT fail, COMMIT is not run and the session stays in the
        // failed transaction: whatever follows fails too. A transaction that
        // wrote nothing (every change found no row, under --not-consistent)
        // has no commit record unless it takes a transaction id: without
        // one the origin would not move and the next guard would fail.
        let time = commit_time.map_or("pg_catalog.now()".to_string(), |t| {
            format!(
                "'2000-01-01 00:00:00+00'::pg_catalog.timestamptz \
                 + '{t} microseconds'::pg_catalog.interval"
            )
        });
        self.pipeline.simple(
            format!(
                "SELECT pg_catalog.pg_replication_origin_xact_setup('{end_lsn}', {time}), \
                 pg_catalog.txid_current(); COMMIT"
            ),
            Entry::new(
                tx.seq,
                Kind::Commit {
                    end_lsn,
                    rows: tx.rows,
                },
            ),
        );
        self.committed = end_lsn;
        self.make_room().await
    }

    /// The stream's relation `id` and its target table, looked up on first use.
    async fn table(&mut self, id: RelId) -> Result<(Arc<Relation>, Arc<TargetTable>)> {
        let Some(rel) = self.relations.get(&id) else {
            return Err(anyhow!(
                "a change refers to relation {id}, which the stream has not described"
            ));
        };
        let relation = rel.relation.clone();
        if let Some(target) = &rel.target {
            return Ok((relation, target.clone()));
        }
        let target = Arc::new(target::resolve(self.pipeline.client(), &relation).await?);
        if let Some(rel) = self.relations.get_mut(&id) {
            rel.target = Some(target.clone());
        }
        Ok((relation, target))
    }

    async fn prepared(
        &mut self,
        id: RelId,
        op: Op,
        roles: Vec<u8>,
        one_row: bool,
    ) -> Result<Arc<Prepared>> {
        let key = (id, op, roles);
        if let Some(p) = self.statements.get(&key) {
            return Ok(p.clone());
        }
        let (relation, table) = self.table(id).await?;
        let roles = &key.2;
        let checked = op != Op::Insert && !self.tolerate_missing_rows;
        let sql = statement::sql(&table, op, roles, one_row, checked);
        let statement = self
            .pipeline
            .client()
            .prepare(&sql)
            .await
            .with_context(|| format!("preparing {sql}"))?;
        let written = roles.iter().filter(|r| *r & role::WRITE != 0).count();
        let key_names = relation
            .columns
            .iter()
            .zip(roles.iter())
            .filter(|(_, r)| *r & (role::MATCH | role::MATCH_TEXT) != 0)
            .map(|(c, _)| quote_ident(&c.name))
            .collect();
        let prepared = Arc::new(Prepared {
            statement,
            op,
            table: table.qualified.clone(),
            key_names,
            first_key_param: if op == Op::Update { written } else { 0 },
            one_row: op != Op::Insert,
        });
        self.statements.insert(key, prepared.clone());
        Ok(prepared)
    }

    async fn insert(&mut self, id: RelId, new: Vec<Value>) -> Result<()> {
        let (relation, table) = self.table(id).await?;
        check_width(&relation, &new)?;
        let roles: Vec<u8> = new
            .iter()
            .zip(&table.columns)
            .map(|(v, c)| {
                if c.generated || *v == Value::Unchanged {
                    0
                } else {
                    role::WRITE
                }
            })
            .collect();
        let copyable = !new.iter().any(|v| matches!(v, Value::Binary(_)));
        if let Some(copy) = &self.copy {
            if copy.relation == id && copy.roles == roles && copyable {
                return self.copy_row(&new, &roles).await;
            }
            self.end_copy().await?;
        }
        let length = match &mut self.run {
            Some(run) if run.relation == id && run.roles == roles => {
                run.length += 1;
                run.length
            }
            _ => {
                self.run = Some(Run {
                    relation: id,
                    roles: roles.clone(),
                    length: 1,
                });
                1
            }
        };
        if copyable && self.tuning.copy_after.is_some_and(|after| length > after) {
            self.start_copy(id, &table, roles.clone()).await?;
            return self.copy_row(&new, &roles).await;
        }
        let prepared = self.prepared(id, Op::Insert, roles.clone(), false).await?;
        let params: Vec<Param> = new
            .iter()
            .zip(&roles)
            .filter(|(_, r)| **r != 0)
            .map(|(v, _)| Param::of(v))
            .collect();
        self.send_row(prepared, params).await
    }

    async fn send_row(&mut self, prepared: Arc<Prepared>, params: Vec<Param>) -> Result<()> {
        let Some(tx) = &mut self.tx else {
            return Err(anyhow!("a change arrived outside a transaction"));
        };
        tx.rows += 1;
        let (seq, xid) = (tx.seq, tx.xid);
        let statement = prepared.statement.clone();
        self.pipeline.execute(
            &statement,
            Arc::new(params),
            Entry::new(
                seq,
                Kind::Row {
                    prepared,
                    params: Arc::new(Vec::new()),
                    xid,
                },
            ),
        );
        self.make_room().await
    }

    /// UPDATE or DELETE: find the row by the replica identity.
    async fn locate(
        &mut self,
        op: Op,
        id: RelId,
        old: Option<&OldTuple>,
        new: Option<&Vec<Value>>,
    ) -> Result<()> {
        let (relation, table) = self.table(id).await?;
        let full = relation.replica_identity == ReplicaIdentity::Full
            || matches!(old, Some(OldTuple::Full(_)));
        if relation.replica_identity == ReplicaIdentity::Nothing && !full {
            return Err(Failure::target(format!(
                "table {} has REPLICA IDENTITY NOTHING on the source but received an {}: its \
                 rows cannot be located; give it a primary key or REPLICA IDENTITY FULL on the \
                 source",
                table.qualified,
                op_name(op)
            ))
            .into());
        }
        let key_source = match (old, new) {
            (Some(old), _) => old.values(),
            (None, Some(new)) => new,
            (None, None) => return Err(anyhow!("a DELETE without its old row")),
        };
        check_width(&relation, key_source)?;
        if let Some(new) = new {
            check_width(&relation, new)?;
        }
        let mut roles = vec![0u8; relation.columns.len()];
        let mut params = Vec::new();
        if let Some(new) = new {
            for ((r, v), c) in roles.iter_mut().zip(new).zip(&table.columns) {
                if !c.generated && *v != Value::Unchanged {
                    *r |= role::WRITE;
                    params.push(Param::of(v));
                }
            }
        }
        for (((r, v), col), c) in roles
            .iter_mut()
            .zip(key_source)
            .zip(&relation.columns)
            .zip(&table.columns)
        {
            if !(full || col.is_key) || c.generated || *v == Value::Unchanged {
                if col.is_key && !full && *v == Value::Unchanged {
                    return Err(Failure::target(format!(
                        "an {} of {} does not carry the value of key column {}: its row cannot \
                         be located",
                        op_name(op),
                        table.qualified,
                        c.ident
                    ))
                    .into());
                }
                continue;
            }
            match v {
                Value::Null => *r |= role::MATCH_NULL,
                _ if full && !c.has_equality => {
                    *r |= role::MATCH_TEXT;
                    params.push(Param::of(v));
                }
                _ => {
                    *r |= role::MATCH;
                    params.push(Param::of(v));
                }
            }
        }
        if !roles.iter().any(|r| *r & !role::WRITE != 0) {
            return Err(Failure::target(format!(
                "an {} of {} carries no replica identity column: its row cannot be located",
                op_name(op),
                table.qualified
            ))
            .into());
        }
        if op == Op::Update && !roles.iter().any(|r| *r & role::WRITE != 0) {
            // Nothing to set (every column unchanged or generated).
            return Ok(());
        }
        let prepared = self.prepared(id, op, roles, full).await?;
        let Some(tx) = &mut self.tx else {
            return Err(anyhow!("a change arrived outside a transaction"));
        };
        tx.rows += 1;
        let (seq, xid) = (tx.seq, tx.xid);
        let statement = prepared.statement.clone();
        let params = Arc::new(params);
        self.pipeline.execute(
            &statement,
            params.clone(),
            Entry::new(
                seq,
                Kind::Row {
                    prepared,
                    params,
                    xid,
                },
            ),
        );
        self.make_room().await
    }

    async fn truncate(&mut self, ids: &[RelId], cascade: bool, restart: bool) -> Result<()> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            let (_, table) = self.table(*id).await?;
            names.push(table.only());
        }
        if names.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(anyhow!("a TRUNCATE arrived outside a transaction"));
        };
        let (seq, xid) = (tx.seq, tx.xid);
        let tables = names.join(", ");
        let sql = format!(
            "TRUNCATE {tables}{}{}",
            if restart { " RESTART IDENTITY" } else { "" },
            if cascade { " CASCADE" } else { "" }
        );
        self.pipeline
            .simple(sql, Entry::new(seq, Kind::Truncate { tables, xid }));
        self.make_room().await
    }

    async fn start_copy(&mut self, id: RelId, table: &TargetTable, roles: Vec<u8>) -> Result<()> {
        // Everything before it must be answered: an error there comes first.
        self.settle_all().await?;
        let columns: Vec<&str> = table
            .columns
            .iter()
            .zip(&roles)
            .filter(|(_, r)| **r != 0)
            .map(|(c, _)| c.ident.as_str())
            .collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN",
            table.qualified,
            columns.join(", ")
        );
        let sink = self
            .pipeline
            .client()
            .copy_in::<_, Bytes>(&sql)
            .await
            .with_context(|| format!("starting {sql}"))?;
        self.copy = Some(Copy {
            relation: id,
            roles,
            table: table.qualified.clone(),
            sink: Box::pin(sink),
            buffer: BytesMut::with_capacity(COPY_CHUNK),
            rows: 0,
        });
        Ok(())
    }

    async fn copy_row(&mut self, new: &[Value], roles: &[u8]) -> Result<()> {
        let Some(copy) = &mut self.copy else {
            return Err(anyhow!("no COPY in progress"));
        };
        let values: Vec<&Value> = new
            .iter()
            .zip(roles)
            .filter(|(_, r)| **r != 0)
            .map(|(v, _)| v)
            .collect();
        if param::copy_text_row(&mut copy.buffer, &values).is_none() {
            return Err(anyhow!("a binary value cannot go through COPY text"));
        }
        copy.rows += 1;
        if let Some(tx) = &mut self.tx {
            tx.rows += 1;
        }
        if copy.buffer.len() >= COPY_CHUNK {
            let chunk = copy.buffer.split().freeze();
            let table = copy.table.clone();
            copy.sink
                .send(chunk)
                .await
                .with_context(|| format!("copying rows into {table}"))?;
        }
        Ok(())
    }

    async fn end_copy(&mut self) -> Result<()> {
        let Some(mut copy) = self.copy.take() else {
            return Ok(());
        };
        let context = || {
            let xid = self.tx.as_ref().map_or(0, |t| t.xid);
            format!(
                "applying {} INSERTs into {} (source transaction {xid}) through COPY",
                copy.rows, copy.table
            )
        };
        if !copy.buffer.is_empty() {
            let chunk = copy.buffer.split().freeze();
            copy.sink.send(chunk).await.with_context(context)?;
        }
        let result = copy.sink.as_mut().finish().await;
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => return self.statement_error(anyhow::Error::new(e).context(context())),
        };
        if rows != copy.rows {
            return Err(anyhow!("{}: the target took {rows} rows", context()));
        }
        Ok(())
    }

    /// A failed statement of the current transaction: deferred when that
    /// transaction may be one already applied.
    fn statement_error(&mut self, error: anyhow::Error) -> Result<()> {
        if let Some(tx) = &self.tx {
            if let Some(d) = self.deferred.get_mut(&tx.seq) {
                d.error.get_or_insert(error);
                return Ok(());
            }
        }
        Err(error)
    }

    async fn make_room(&mut self) -> Result<()> {
        while self.pipeline.is_full() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn settle_all(&mut self) -> Result<()> {
        while !self.pipeline.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<()> {
        let Some((entry, result)) = self.pipeline.next().await else {
            return Ok(());
        };
        let outcome = self.judge(&entry.kind, result);
        if matches!(entry.kind, Kind::Rollback) {
            self.deferred.remove(&entry.seq);
        }
        match outcome {
            Ok(()) => Ok(()),
            Err(error) => match self.deferred.get_mut(&entry.seq) {
                // A transaction that may be a repeat: judged at its commit.
                Some(d) => {
                    d.error.get_or_insert(error);
                    Ok(())
                }
                None if matches!(entry.kind, Kind::Rollback) => Ok(()),
                None => Err(error),
            },
        }
    }

    fn judge(&mut self, kind: &Kind, result: Result<u64, tokio_postgres::Error>) -> Result<()> {
        match kind {
            Kind::Control(what) => {
                result.with_context(|| format!("{what} of a source transaction on the target"))?;
            }
            Kind::Rollback => {
                result.context("rolling back a source transaction already applied")?;
                self.stats.skipped += 1;
            }
            Kind::Commit { end_lsn, rows } => {
                result.with_context(|| {
                    format!("committing the source transaction that ends at {end_lsn}")
                })?;
                self.stats.transactions += 1;
                self.stats.rows += rows;
                crate::failpoint!("stream-applied", &end_lsn.to_string());
            }
            Kind::Truncate { tables, xid } => {
                result.with_context(|| {
                    format!("applying TRUNCATE {tables} (source transaction {xid})")
                })?;
            }
            Kind::Row {
                prepared,
                params,
                xid,
            } => {
                let what = || {
                    format!(
                        "applying an {} to {} (source transaction {xid})",
                        op_name(prepared.op),
                        prepared.table
                    )
                };
                let rows = match result {
                    Ok(rows) => rows,
                    // A checked statement that did not touch one row.
                    Err(e) => match e
                        .as_db_error()
                        .and_then(|db| statement::rows_matched(db.message()))
                    {
                        Some(rows) => rows,
                        None => return Err(anyhow::Error::new(e).context(what())),
                    },
                };
                if prepared.one_row && rows != 1 {
                    let message = format!(
                        "{}: {rows} rows of {} match the replica identity ({})=({})",
                        what(),
                        prepared.table,
                        prepared.key_names.join(", "),
                        key_text(params, prepared.first_key_param)
                    );
                    if rows == 0 && self.tolerate_missing_rows {
                        tracing::warn!("{message}; skipped");
                        self.stats.missing_rows += 1;
                    } else if rows == 0 {
                        return Err(Failure::target(format!(
                            "{message}: the target no longer holds what the source changed"
                        ))
                        .into());
                    } else {
                        return Err(Failure::target(message).into());
                    }
                }
            }
        }
        Ok(())
    }
}

impl Entry {
    fn new(seq: u64, kind: Kind) -> Entry {
        Entry { seq, kind }
    }
    fn control(seq: u64, what: &'static str) -> Entry {
        Entry::new(seq, Kind::Control(what))
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
    }
}

fn check_width(relation: &Relation, tuple: &[Value]) -> Result<()> {
    if tuple.len() != relation.columns.len() {
        return Err(anyhow!(
            "a change of {}.{} carries {} values for {} columns",
            relation.schema,
            relation.name,
            tuple.len(),
            relation.columns.len()
        ));
    }
    Ok(())
}

/// The matched values of a row, for an error message.
fn key_text(params: &[Param], first: usize) -> String {
    params
        .iter()
        .skip(first)
        .map(|p| match p {
            Param::Null => "NULL".to_string(),
            Param::Text(b) => String::from_utf8_lossy(b).into_owned(),
            Param::Binary(b) => format!("<{} bytes binary>", b.len()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
