//! Commit grouping: consecutive small source transactions share one target
//! transaction, committed once with the origin set to the end of the last
//! of them. A target commit (with its origin update, its WAL record and the
//! round of messages around it) then serves many source transactions, which
//! is what a backlog of short ones (pgbench) spends most of its time on.
//!
//! Why exactly once still holds: the group is one target transaction and
//! the origin's position goes into its commit record, so after any crash
//! either every member is on the target and the origin is at the end of the
//! last one, or none is and the origin is where the previous group left it.
//! On restart every member then has a commit position below the origin's
//! (skipped) or above it (applied again from the store or the slot), never
//! half of a group. The members are applied in their commit order, one
//! after the other in one session, so the group's end state is the source's
//! state after its last member; constraints checked at commit (deferred)
//! see that state, which the source committed.
//!
//! What changes: a failure rolls back its whole group (the members before
//! the failing one are applied again on resume; the error still names the
//! failing source transaction), and the target shows a group's members at
//! once. A group is closed (committed) when it reaches
//! [`Tuning::group_transactions`] or [`Tuning::group_rows`], when the
//! stream has nothing more for now ([`Applier::idle`]), before a position
//! is read ([`Applier::flush`], [`Applier::progress`]) and before a
//! transaction whose commit position is unknown at BEGIN (the text
//! plugins), whose errors may be those of a repeat and are judged alone.

use anyhow::Result;

use super::settle::{Entry, Kind};
use super::{Applier, Tuning};
use crate::stream::lsn::Lsn;

/// Source transactions committed by the stream whose target transaction is
/// still open.
pub(super) struct Group {
    /// The last member's sequence number (its statements' entries).
    pub(super) seq: u64,
    pub(super) transactions: u64,
    pub(super) rows: u64,
    pub(super) first_end: Lsn,
    pub(super) end_lsn: Lsn,
    pub(super) commit_time: Option<i64>,
}

impl Group {
    pub(super) fn is_full(&self, tuning: &Tuning) -> bool {
        self.transactions >= tuning.group_transactions || self.rows >= tuning.group_rows
    }
}

impl Applier {
    /// Add a committed source transaction to the open group (opening one).
    pub(super) fn join_group(&mut self, seq: u64, rows: u64, end_lsn: Lsn, time: Option<i64>) {
        let group = self.group.get_or_insert(Group {
            seq,
            transactions: 0,
            rows: 0,
            first_end: end_lsn,
            end_lsn,
            commit_time: time,
        });
        group.seq = seq;
        group.transactions += 1;
        group.rows += rows;
        group.end_lsn = end_lsn;
        group.commit_time = time;
    }

    /// Send the COMMIT of the open group, if any. The origin's position goes
    /// into the commit record itself; should the SELECT fail, COMMIT is not
    /// run and the session stays in the failed transaction: whatever follows
    /// fails too. A group that wrote nothing (every change found no row,
    /// under --not-consistent) has no commit record unless it takes a
    /// transaction id: without one the origin would not move and the next
    /// guard would fail.
    pub(super) async fn end_group(&mut self) -> Result<()> {
        if self.group.is_none() {
            return Ok(());
        }
        if self.counts_unread && !self.tolerate_missing_rows {
            // An UPDATE or DELETE that touched no row (or several) is an
            // error only the client sees: its transaction must not commit.
            // One wait per group, not per statement.
            self.settle_all().await?;
        }
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let time = group
            .commit_time
            .map_or("pg_catalog.now()".to_string(), |t| {
                format!(
                    "'2000-01-01 00:00:00+00'::pg_catalog.timestamptz \
                     + '{t} microseconds'::pg_catalog.interval"
                )
            });
        let end_lsn = group.end_lsn;
        self.pipeline.simple(
            format!(
                "SELECT pg_catalog.pg_replication_origin_xact_setup('{end_lsn}', {time}), \
                 pg_catalog.txid_current(); COMMIT"
            ),
            Entry::new(
                group.seq,
                Kind::Commit {
                    first_end: group.first_end,
                    end_lsn,
                    transactions: group.transactions,
                    rows: group.rows,
                },
            ),
        );
        self.make_room().await
    }
}
