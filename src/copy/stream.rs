//! One table's COPY, inside one target transaction that truncates first so
//! that `COPY ... FREEZE` applies (rows land frozen and all-visible), and
//! that rolls back when the two sides' row counts differ (see [`counts`]).
//!
//! [`counts`]: super::counts

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use futures_util::{pin_mut, SinkExt, StreamExt};
use tokio_postgres::Client;

use super::counts::RowCountMismatch;
use super::relay::{self, TapHandle};
use super::target::TargetRelation;
use crate::catalog::parts::Part;
use crate::catalog::{set_storage_sql, Table};
use crate::error::{Side, SideContext};

/// Wire format of the COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Binary,
}

#[derive(Debug, Clone, Default)]
pub struct CopyStats {
    pub rows: u64,
    pub bytes: u64,
    pub duration: Duration,
}

/// The source sends one CopyData message per row; regrouping them into
/// buffers of this size cuts per-message work on our side and the target's.
const CHUNK: usize = 64 * 1024;

/// What one COPY moves: a whole table, or one part of a split table.
#[derive(Debug, Clone, Copy)]
pub enum CopyUnit<'a> {
    /// Truncate and copy (with FREEZE into a plain table), in one target
    /// transaction.
    Whole,
    /// The rows matching the part's predicate. The table was truncated once
    /// before its parts started; `clear_first` deletes the part's rows first
    /// (a part whose earlier attempt may have committed).
    Part { part: &'a Part, clear_first: bool },
}

/// The source reader a copy reads from.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// Inside the run's snapshot.
    pub client: &'a Client,
    /// Its socket, when the relay can read it (see [`relay`]).
    pub relay: Option<&'a TapHandle>,
}

/// How the rows travel and land.
#[derive(Debug, Clone, Copy)]
pub struct CopyHow<'a> {
    pub format: CopyFormat,
    /// Columns stored EXTERNAL during a whole-table copy: none of their
    /// values is compressed on the source (see
    /// [`crate::catalog::uncompressed_columns`]).
    pub uncompressed: &'a [String],
    /// What the table is on the target.
    pub target: TargetRelation,
}

/// Copy one table or part. `source` must be a reader inside the snapshot;
/// `target` an idle worker connection. `counted` (this attempt's bytes) and
/// `progress` (the run's) are advanced as bytes flow.
pub async fn copy_table(
    source: Source<'_>,
    target: &Client,
    table: &Table,
    unit: CopyUnit<'_>,
    how: CopyHow<'_>,
    counted: &AtomicU64,
    progress: &AtomicU64,
) -> Result<CopyStats> {
    target
        .batch_execute("BEGIN")
        .await
        .on(Side::Target, "starting the target transaction")?;
    match copy_in_transaction(source, target, table, unit, how, counted, progress).await {
        Ok(stats) => {
            target
                .batch_execute("COMMIT")
                .await
                .on(Side::Target, "committing on the target")?;
            Ok(stats)
        }
        Err(e) => {
            // The connection may be gone; the error that matters is the copy's.
            let _ = target.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// [`copy_table`] inside a target transaction the caller opened and
/// commits: several small tables share one commit that way (a whole
/// table's TRUNCATE is in the same transaction as its COPY, so FREEZE
/// still applies). On error the caller's transaction is aborted.
pub async fn copy_in_transaction(
    source: Source<'_>,
    target: &Client,
    table: &Table,
    unit: CopyUnit<'_>,
    how: CopyHow<'_>,
    counted: &AtomicU64,
    progress: &AtomicU64,
) -> Result<CopyStats> {
    let CopyHow {
        format,
        uncompressed,
        target: relation,
    } = how;
    // FREEZE, and the storage switch that pays only with it, apply to a
    // plain target table.
    let freeze = relation.freezes();
    let uncompressed = if freeze { uncompressed } else { &[] };
    let started = Instant::now();
    let qualified = table.qualified();
    let columns = table.column_list();
    let binary = format == CopyFormat::Binary;
    let out_with = if binary { " (FORMAT binary)" } else { "" };
    let (copy_out, prepare, in_with) = match unit {
        CopyUnit::Whole => (
            // COPY table TO reads only this table, never inheritance children.
            format!("COPY {qualified} {columns} TO STDOUT{out_with}"),
            // TRUNCATE in the same transaction is what lets COPY FREEZE apply.
            Some(relation.truncate_sql(table)),
            match (freeze, binary) {
                (true, true) => " (FREEZE, FORMAT binary)",
                (true, false) => " (FREEZE)",
                (false, true) => " (FORMAT binary)",
                (false, false) => "",
            },
        ),
        CopyUnit::Part { part, clear_first } => {
            let predicate = part.predicate().unwrap_or_else(|| "true".into());
            let select = if table.columns.is_empty() {
                String::new()
            } else {
                columns
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .to_string()
            };
            (
                format!("COPY (SELECT {select} FROM ONLY {qualified} WHERE {predicate}) TO STDOUT{out_with}"),
                clear_first.then(|| relation.delete_sql(table, &predicate)),
                if binary { " (FORMAT binary)" } else { "" },
            )
        }
    };
    let copy_in = format!("COPY {qualified} {columns} FROM STDIN{in_with}");

    let moved = async {
        // Before the TRUNCATE: COPY FREEZE needs the table truncated in the
        // transaction's own (sub)transaction, not in the savepoint's.
        let external = match unit {
            CopyUnit::Whole => store_external(target, table, uncompressed).await?,
            CopyUnit::Part { .. } => false,
        };
        if let Some(sql) = &prepare {
            target.batch_execute(sql).await.on(
                Side::Target,
                format!("preparing {} on the target", table.label()),
            )?;
        }
        let moved = stream(
            source,
            target,
            (&copy_out, &copy_in),
            binary,
            &[counted, progress],
        )
        .await?;
        moved.check_counts(|| unit_label(table, unit))?;
        if external {
            if let Some(sql) = set_storage_sql(table, uncompressed, "EXTENDED") {
                target.batch_execute(&sql).await.on(
                    Side::Target,
                    format!("restoring the column storage of {}", table.label()),
                )?;
            }
        }
        Ok::<_, anyhow::Error>(moved)
    }
    .await
    .map_err(|e| e.context(format!("copying {}", unit_label(table, unit))))?;
    Ok(CopyStats {
        rows: moved.target_rows,
        bytes: moved.bytes,
        duration: started.elapsed(),
    })
}

/// Store `columns` (never compressed on the source) EXTERNAL for this
/// transaction (see [`crate::catalog::uncompressed_columns`]). Only an
/// optimisation: when the role may not ALTER the table, the copy goes on
/// without it.
async fn store_external(target: &Client, table: &Table, columns: &[String]) -> Result<bool> {
    let Some(sql) = set_storage_sql(table, columns, "EXTERNAL") else {
        return Ok(false);
    };
    target.batch_execute("SAVEPOINT storage").await?;
    match target.batch_execute(&sql).await {
        Ok(()) => {
            target.batch_execute("RELEASE SAVEPOINT storage").await?;
            Ok(true)
        }
        Err(e) => {
            tracing::debug!(
                "{}: copying with its column storage as is: {}",
                table.label(),
                crate::connections::db_error_message(&e)
            );
            target
                .batch_execute("ROLLBACK TO SAVEPOINT storage; RELEASE SAVEPOINT storage")
                .await?;
            Ok(false)
        }
    }
}

/// `schema.table` or `schema.table (part 2/4)`, for messages and progress.
pub fn unit_label(table: &Table, unit: CopyUnit<'_>) -> String {
    match unit {
        CopyUnit::Whole => table.label(),
        CopyUnit::Part { part, .. } => {
            format!("{} (part {}/{})", table.label(), part.number, part.count)
        }
    }
}

/// What one COPY moved, as each side reported it.
struct Moved {
    source_rows: u64,
    target_rows: u64,
    bytes: u64,
}

impl Moved {
    /// The row-count guard (see [`super::counts`]); `label` names the copy.
    fn check_counts(&self, label: impl FnOnce() -> String) -> Result<(), RowCountMismatch> {
        if self.source_rows == self.target_rows {
            return Ok(());
        }
        Err(RowCountMismatch {
            label: label(),
            source_rows: self.source_rows,
            target_rows: self.target_rows,
        })
    }
}

/// One text-format `COPY ... TO STDOUT` of `source` into one `COPY ... FROM
/// STDIN` of `target`, in the caller's target transaction, under the same
/// row-count guard as table copies: for copies outside the table pipeline
/// (extension configuration rows). Returns the rows the target stored.
pub async fn copy_counted(
    source: &Client,
    target: &Client,
    (copy_out, copy_in): (&str, &str),
    label: &str,
) -> Result<u64> {
    let source = Source {
        client: source,
        relay: None,
    };
    let moved = stream(source, target, (copy_out, copy_in), false, &[]).await?;
    moved.check_counts(|| label.to_string())?;
    Ok(moved.target_rows)
}

/// Pump the bytes from one COPY to the other, in `CHUNK`-sized buffers.
async fn stream(
    source: Source<'_>,
    target: &Client,
    (copy_out, copy_in): (&str, &str),
    binary: bool,
    counters: &[&AtomicU64],
) -> Result<Moved> {
    let sink = target
        .copy_in::<_, Bytes>(copy_in)
        .await
        .on(Side::Target, "starting COPY FROM on the target")?;
    if let Some(tap) = source.relay {
        pin_mut!(sink);
        let sent = |n: u64| {
            for c in counters {
                c.fetch_add(n, Ordering::Relaxed);
            }
        };
        relay::idle(source.client)
            .await
            .on(Side::Source, "starting COPY TO on the source")?;
        let (bytes, source_rows) = relay::copy_out(tap, copy_out, CHUNK, &mut sink, sent)
            .await
            .on(Side::Source, "copying from the source")?;
        let target_rows = sink
            .finish()
            .await
            .on(Side::Target, "finishing COPY on the target")?;
        return Ok(Moved {
            source_rows,
            target_rows,
            bytes,
        });
    }
    let rows = source
        .client
        .copy_out(copy_out)
        .await
        .on(Side::Source, "starting COPY TO on the source")?;
    pin_mut!(sink);
    pin_mut!(rows);
    let mut buffer = BytesMut::with_capacity(CHUNK);
    let mut total = 0u64;
    // tokio-postgres does not hand out the source's CommandComplete; the
    // protocol sends one CopyData message per row (plus, in binary format,
    // one for the trailer), and this loop handles each message anyway.
    let mut messages = 0u64;
    loop {
        let message = rows.next().await;
        let done = message.is_none();
        if let Some(message) = message {
            buffer.extend_from_slice(&message.on(Side::Source, "reading from the source")?);
            messages += 1;
        }
        if buffer.len() >= CHUNK || (done && !buffer.is_empty()) {
            let n = buffer.len() as u64;
            sink.send(buffer.split().freeze())
                .await
                .on(Side::Target, "writing to the target")?;
            total += n;
            for c in counters {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        if done {
            break;
        }
    }
    let target_rows = sink
        .finish()
        .await
        .on(Side::Target, "finishing COPY on the target")?;
    Ok(Moved {
        source_rows: messages.saturating_sub(u64::from(binary)),
        target_rows,
        bytes: total,
    })
}
