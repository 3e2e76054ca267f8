//! Source transactions on the target: BEGIN (with the guard when the
//! previous commit is still unanswered), COMMIT with the origin's position
//! in the same commit, the skip of what the origin says is in, and the
//! deferral of errors of transactions that may be repeats.

use anyhow::{anyhow, Result};

use super::settle::{Entry, Kind};
use super::Applier;
use crate::stream::lsn::Lsn;

pub(super) struct Tx {
    pub(super) seq: u64,
    pub(super) xid: u32,
    /// Already applied: changes are read and dropped until the commit.
    pub(super) skip: bool,
    /// Failed while it may be a repeat (see `deferred`): changes are read
    /// and dropped until the commit decides.
    pub(super) broken: bool,
    pub(super) rows: u64,
}

#[derive(Default)]
pub(super) struct Deferred {
    pub(super) error: Option<anyhow::Error>,
}

impl Applier {
    /// Keep `error` for the commit of the current transaction when that
    /// transaction may be one already applied, and drop its other changes.
    pub(super) fn defer(&mut self, error: anyhow::Error) -> Result<()> {
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
        self.deletes = None;
        Ok(())
    }

    /// Whether the current transaction's changes are dropped; an error
    /// outside a transaction.
    pub(super) fn skipping(&self) -> Result<bool> {
        match &self.tx {
            Some(tx) => Ok(tx.skip || tx.broken),
            None => Err(anyhow!(
                "a change arrived outside a transaction (no BEGIN before it): the stream is \
                 out of order"
            )),
        }
    }

    pub(super) async fn begin(&mut self, xid: u32, final_lsn: Option<Lsn>) -> Result<()> {
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
            // Judged alone at its commit (see group.rs).
            self.end_group().await?;
            self.deferred.insert(seq, Deferred::default());
        } else if self.group.is_some() {
            // Goes on in the open target transaction.
            return Ok(());
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

    pub(super) async fn commit(&mut self, end_lsn: Lsn, commit_time: Option<i64>) -> Result<()> {
        if self.tx.is_none() {
            return Err(anyhow!(
                "a commit at {end_lsn} arrived outside a transaction: the stream is out of order"
            ));
        }
        self.end_copy().await?;
        self.run = None;
        self.send_deletes().await?;
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
        let alone = self.deferred.remove(&tx.seq).is_some();
        self.join_group(tx.seq, tx.rows, end_lsn, commit_time);
        self.committed = end_lsn;
        if alone || self.group.as_ref().is_some_and(|g| g.is_full(&self.tuning)) {
            return self.end_group().await;
        }
        Ok(())
    }

    /// A failed statement of the current transaction: deferred when that
    /// transaction may be one already applied.
    pub(super) fn statement_error(&mut self, error: anyhow::Error) -> Result<()> {
        if let Some(tx) = &self.tx {
            if let Some(d) = self.deferred.get_mut(&tx.seq) {
                d.error.get_or_insert(error);
                return Ok(());
            }
        }
        Err(error)
    }
}
