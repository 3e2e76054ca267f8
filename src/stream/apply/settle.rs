//! Reading back the results of what is in flight, in the order it was
//! sent, and judging each: the row counts a change must touch, the first
//! error of a transaction, the counters of a run.

use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;

use super::param::Param;
use super::rows::{op_name, Prepared};
use super::Applier;
use crate::error::Failure;
use crate::stream::lsn::Lsn;

/// What a statement in flight was, to settle its result.
pub(super) struct Entry {
    pub(super) seq: u64,
    pub(super) kind: Kind,
}

pub(super) enum Kind {
    /// BEGIN (and the guard): no rows expected.
    Control(&'static str),
    Row {
        prepared: Arc<Prepared>,
        /// The parameters, kept for the message of a row count that is not
        /// one (UPDATE, DELETE); `None` for an INSERT, which has no count
        /// to judge (no allocation per row).
        params: Option<Arc<Vec<Param>>>,
        xid: u32,
    },
    /// A run of DELETEs by key (see deletes.rs).
    Deletes {
        prepared: Arc<Prepared>,
        keys: u64,
        first: Bytes,
        xid: u32,
    },
    Truncate {
        tables: String,
        xid: u32,
    },
    /// A group of source transactions (see group.rs).
    Commit {
        first_end: Lsn,
        end_lsn: Lsn,
        transactions: u64,
        rows: u64,
    },
    Rollback,
}

impl Applier {
    pub(super) async fn make_room(&mut self) -> Result<()> {
        self.pipeline.send().await;
        while self.pipeline.is_full() {
            self.settle_one().await?;
        }
        Ok(())
    }

    pub(super) async fn settle_all(&mut self) -> Result<()> {
        while !self.pipeline.is_empty() {
            self.settle_one().await?;
        }
        self.counts_unread = false;
        Ok(())
    }

    pub(super) async fn settle_one(&mut self) -> Result<()> {
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

    pub(super) fn judge(&mut self, kind: &Kind, result: Result<u64, Failure>) -> Result<()> {
        match kind {
            Kind::Control(what) => {
                result.with_context(|| format!("{what} of a source transaction on the target"))?;
            }
            Kind::Rollback => {
                result.context("rolling back a source transaction already applied")?;
                self.stats.skipped += 1;
            }
            Kind::Commit {
                first_end,
                end_lsn,
                transactions,
                rows,
            } => {
                result.with_context(|| match transactions {
                    1 => format!("committing the source transaction that ends at {end_lsn}"),
                    n => format!(
                        "committing {n} source transactions together, ending at {first_end} to \
                         {end_lsn}"
                    ),
                })?;
                self.stats.transactions += transactions;
                self.stats.rows += rows;
                // Committed, origin included; later ones may be in flight.
                crate::failpoint!("stream-applied", &end_lsn.to_string());
            }
            Kind::Truncate { tables, xid } => {
                result.with_context(|| {
                    format!("applying TRUNCATE {tables} (source transaction {xid})")
                })?;
            }
            Kind::Deletes {
                prepared,
                keys,
                first,
                xid,
            } => {
                // The run's first key names it (the server does not say
                // which keys matched nothing).
                let what = || {
                    format!(
                        "applying {keys} DELETE(s) to {} by replica identity ({})=({}){} \
                         (source transaction {xid})",
                        prepared.table,
                        prepared.key_names.join(", "),
                        String::from_utf8_lossy(first),
                        if *keys > 1 { " and the next ones" } else { "" }
                    )
                };
                let found = match result {
                    Ok(rows) => rows,
                    Err(e) => return Err(anyhow::Error::new(e).context(what())),
                };
                if found < *keys && self.tolerate_missing_rows {
                    tracing::warn!(
                        "{}: {} of the rows are not on the target; skipped",
                        what(),
                        keys - found
                    );
                    self.stats.missing_rows += keys - found;
                } else if found != *keys {
                    return Err(Failure::target(format!(
                        "{}: {found} rows of {} match the replica identity of {keys} deleted \
                         rows: the target no longer holds what the source changed",
                        what(),
                        prepared.table
                    ))
                    .into());
                }
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
                    Err(e) => return Err(anyhow::Error::new(e).context(what())),
                };
                if prepared.one_row && rows != 1 {
                    let message = format!(
                        "{}: {rows} rows of {} match the replica identity ({})=({})",
                        what(),
                        prepared.table,
                        prepared.key_names.join(", "),
                        params
                            .as_deref()
                            .map(|p| key_text(p, prepared.first_key_param))
                            .unwrap_or_default()
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
    pub(super) fn new(seq: u64, kind: Kind) -> Entry {
        Entry { seq, kind }
    }
    pub(super) fn control(seq: u64, what: &'static str) -> Entry {
        Entry::new(seq, Kind::Control(what))
    }
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
