//! Copy workers: take work items (whole tables, or parts of split tables)
//! off the queue, largest first, each copied in one target transaction;
//! retry when a connection breaks. When a table's last part is in, what
//! follows its copy starts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_postgres::Client;
use tracing::{debug, warn};

use super::after_copy::after_copy;
use super::shared::Shared;
use crate::catalog::{uncompressed_columns, Table};
use crate::connections::{connect, connect_target_worker, Side};
use crate::copy::counts::RowCountMismatch;
use crate::copy::relay::TapHandle;
use crate::copy::{copy_table, unit_label, CopyHow, CopyStats, CopyUnit, Source};
use crate::error::{reached_before, Error, Kind, SideContext};
use crate::indexes::buildable;
use crate::interrupt;
use crate::report::summary::TableReport;
use crate::snapshot::open_copy_reader;
use crate::workdir::state::Unit;

/// How many times a copy is retried after a connection-class error.
const RETRIES: u32 = 5;

/// One COPY to run: a whole table, or part `part` (an index into
/// `table.parts`) of a split table.
#[derive(Clone)]
pub(super) struct WorkItem {
    pub table: Arc<Table>,
    pub part: Option<usize>,
    /// Delete the part's rows before copying it (an earlier attempt may
    /// have committed them).
    pub clear_first: bool,
}

impl WorkItem {
    /// Expected bytes, to order the queue largest first.
    pub fn bytes(&self) -> i64 {
        match self.part {
            None => self.table.bytes,
            Some(_) => self.table.bytes / self.table.parts.len().max(1) as i64,
        }
    }
    // `part` indexes `table.parts`: items are made by enumerating them.
    #[allow(clippy::indexing_slicing)]
    fn unit(&self) -> Unit {
        match self.part {
            None => Unit::Table(self.table.oid),
            Some(i) => Unit::Part(self.table.oid, self.table.parts[i].number),
        }
    }
    /// The failpoint reached once this item's COPY is committed.
    #[cfg(feature = "failpoints")]
    fn copied_point(&self) -> &'static str {
        match self.part {
            None => "table-copied",
            Some(_) => "part-copied",
        }
    }
    #[allow(clippy::indexing_slicing)]
    fn copy_unit(&self) -> CopyUnit<'_> {
        match self.part {
            None => CopyUnit::Whole,
            Some(i) => CopyUnit::Part {
                part: &self.table.parts[i],
                clear_first: self.clear_first,
            },
        }
    }
}

struct Connections {
    source: Client,
    /// The source reader's socket, for the COPY relay.
    relay: Option<TapHandle>,
    target: Client,
}

impl Connections {
    /// A link broke (or a relay was abandoned mid-reply): reopen both.
    fn is_closed(&self) -> bool {
        self.source.is_closed()
            || self.target.is_closed()
            || self.relay.as_ref().is_some_and(TapHandle::is_broken)
    }
}

/// Both connections of a worker. The servers answered at the start of the
/// run: one that no longer does has gone away, a retryable failure.
async fn open(shared: &Shared) -> Result<Connections> {
    let target = connect_target_worker(&shared.settings.endpoints.target)
        .await
        .map_err(reached_before)?;
    if let Some(sql) = &shared.settings.toast_compression {
        // A target built without lz4 refuses it: it then compresses with its
        // own default, as it would have anyway.
        if let Err(e) = target.batch_execute(sql).await {
            tracing::debug!(
                "keeping the target's default_toast_compression: {}",
                crate::connections::db_error_message(&e)
            );
        }
    }
    let (source, relay) = open_copy_reader(
        &shared.settings.endpoints.source,
        shared.settings.snapshot.as_deref(),
    )
    .await
    .map_err(reached_before)?;
    Ok(Connections {
        source,
        relay,
        target,
    })
}

/// One copy worker: one source reader (inside the snapshot) and one target
/// connection serve all its items; both are reopened after a broken link.
pub(super) async fn copy_worker(shared: Arc<Shared>) -> Result<()> {
    let instance = shared.opts().limits.as_ref().map(|l| &l.copiers);
    if let Some(n) = instance {
        n.fetch_add(1, Ordering::Relaxed);
    }
    let result = take_tables(&shared).await;
    shared.pools.copiers_running.fetch_sub(1, Ordering::Relaxed);
    if let Some(n) = instance {
        n.fetch_sub(1, Ordering::Relaxed);
    }
    result
}

async fn take_tables(shared: &Arc<Shared>) -> Result<()> {
    let mut conns: Option<Connections> = None;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let Some(item) = crate::sync::lock(&shared.queue).pop_front() else {
            return Ok(());
        };
        // With --all-databases, wait for an instance-wide slot, given to the
        // largest item waiting in any database.
        let _slot =
            crate::clone::limits::table_slot(shared.opts(), shared.plan.priority(&item)).await;
        if shared.stopping() {
            return Ok(());
        }
        let label = unit_label(&item.table, item.copy_unit());
        let unit = item.unit();
        shared.progress.start_table(&label);
        let copy = async {
            let result = copy_with_retries(shared, &mut conns, &item).await;
            shared.progress.finish_table(&label);
            shared.timings.copy_ended();
            result
        };
        let result = shared
            .ledger
            .recorded(&unit, &label, item.bytes(), copy, |stats| {
                crate::failpoint!(item.copied_point(), &label);
                Ok((stats.bytes, stats.rows))
            })
            .await?;
        match result {
            Ok(stats) => {
                shared
                    .progress
                    .rows_done
                    .fetch_add(stats.rows, Ordering::Relaxed);
                // The total is in table sizes (pages on disk), the flow in COPY
                // bytes: once an item is in, count it at its expected size so
                // that the bar ends at 100%.
                let expected = item.bytes().max(0) as u64;
                if expected >= stats.bytes {
                    shared
                        .progress
                        .bytes_done
                        .fetch_add(expected - stats.bytes, Ordering::Relaxed);
                } else {
                    shared
                        .progress
                        .bytes_done
                        .fetch_sub(stats.bytes - expected, Ordering::Relaxed);
                }
                debug!(
                    "copied {label}: {} rows, {} bytes in {:?}",
                    stats.rows, stats.bytes, stats.duration
                );
                if let Some(total) = shared.part_done(&item.table, &stats) {
                    table_copied(shared, item.table.clone(), total)?;
                } else {
                    crate::failpoint!("between-parts", &label);
                }
            }
            Err(e) => {
                // Retries are spent and a server is still out of reach: the
                // next tables would only go through the same retries.
                let e = if Error::classify(&e).is_retryable() {
                    shared.outcome.server_lost.store(true, Ordering::Relaxed);
                    e
                } else {
                    // The source reader's transaction is aborted: the next
                    // tables need a new one.
                    conns = None;
                    explain_vanished(shared, &item.table, e).await
                };
                shared.outcome.copy_failed.store(true, Ordering::Relaxed);
                if e.chain().any(|c| c.is::<RowCountMismatch>()) {
                    shared
                        .outcome
                        .count_mismatches
                        .fetch_add(1, Ordering::Relaxed);
                }
                shared.fail(Some(&unit), Error::classify(&e)).await
            }
        }
    }
}

/// All of a table's data is in: record it and start what follows.
pub(super) fn table_copied(
    shared: &Arc<Shared>,
    table: Arc<Table>,
    stats: CopyStats,
) -> Result<()> {
    if !table.parts.is_empty() {
        shared
            .ledger
            .done_quick(&Unit::Table(table.oid), &table.label(), stats.bytes)?;
    }
    let report = TableReport {
        table: table.label(),
        oid: table.oid,
        schema: table.schema.clone(),
        name: table.name.clone(),
        rows: stats.rows,
        bytes: stats.bytes,
        copy_seconds: stats.duration.as_secs_f64(),
        indexes: buildable(&table).count(),
        index_seconds: 0.0,
        binary: shared.format_for(&table) == crate::copy::CopyFormat::Binary,
        copied: true,
        ..TableReport::default()
    };
    let s = shared.clone();
    shared.spawn_after(async move { after_copy(s, table, report).await });
    Ok(())
}

async fn copy_with_retries(
    shared: &Shared,
    conns: &mut Option<Connections>,
    item: &WorkItem,
) -> Result<CopyStats> {
    let table = &item.table;
    let mut attempt = 0;
    loop {
        let outcome = async {
            if conns.as_ref().is_some_and(Connections::is_closed) {
                *conns = None;
            }
            let c: &Connections = match conns {
                Some(c) => c,
                None => conns.insert(open(shared).await?),
            };
            let uncompressed = match item.copy_unit() {
                CopyUnit::Whole
                    if shared.settings.check_compression
                        && shared.plan.rules.target_relation(table).freezes() =>
                {
                    uncompressed_columns(&c.source, table).await.on(
                        Side::Source,
                        "checking the column compression on the source",
                    )?
                }
                _ => Vec::new(),
            };
            let counted = AtomicU64::new(0);
            let copy = copy_table(
                Source {
                    client: &c.source,
                    relay: c.relay.as_ref(),
                },
                &c.target,
                table,
                item.copy_unit(),
                CopyHow {
                    format: shared.format_for(table),
                    uncompressed: &uncompressed,
                    target: shared.plan.rules.target_relation(table),
                },
                &counted,
                &shared.progress.bytes_done,
            );
            // Publish the bytes in flight for `list progress` now and then.
            let unit = item.unit();
            let publish = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = shared
                        .ledger
                        .advance(&unit, counted.load(Ordering::Relaxed));
                }
            };
            let result = tokio::select! {
                r = copy => r,
                _ = publish => unreachable!("publishing never ends"),
            };
            if result.is_err() {
                // The bytes of a failed attempt will be sent again.
                let n = counted.load(Ordering::Relaxed);
                shared.progress.bytes_done.fetch_sub(n, Ordering::Relaxed);
            }
            result
        }
        .await;
        match outcome {
            Ok(stats) => return Ok(stats),
            Err(e)
                if attempt < RETRIES
                    && Error::classify(&e).is_retryable()
                    && !interrupt::is_cancelled() =>
            {
                attempt += 1;
                let wait = crate::retry::base_delay() * (1 << attempt.min(3));
                warn!(
                    "copying {} failed on a broken connection ({e:#}); retry {attempt}/{RETRIES} in {:.1}s",
                    unit_label(table, item.copy_unit()),
                    wait.as_secs_f64()
                );
                *conns = None;
                let started = Instant::now();
                while started.elapsed() < wait && !interrupt::is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A copy failed: when the table is no longer on the source under the name
/// the catalog read gave (dropped or renamed on the live source since), say
/// so, naming it. Any other failure, or no answer, keeps its own message.
async fn explain_vanished(shared: &Shared, table: &Table, err: anyhow::Error) -> anyhow::Error {
    let Ok(source) = connect(Side::Source, &shared.settings.endpoints.source).await else {
        return err;
    };
    // Outside any snapshot: the catalog as it is now.
    let now = source
        .query_opt(
            "SELECT n.nspname::text, c.relname::text \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.oid = $1",
            &[&table.oid],
        )
        .await;
    let what = match now {
        Ok(None) => "dropped".to_string(),
        Ok(Some(row)) => match (row.try_get::<_, String>(0), row.try_get::<_, String>(1)) {
            (Ok(schema), Ok(name)) if (&schema, &name) != (&table.schema, &table.name) => {
                format!("renamed to {schema}.{name}")
            }
            _ => return err,
        },
        Err(_) => return err,
    };
    Error::new(
        Kind::ObjectMissing,
        Side::Source.into(),
        format!(
            "{} is no longer on the source ({what} after the clone started): its data is not \
             copied; run again with --restart to clone the source as it is now ({err:#})",
            table.label()
        ),
    )
    .into()
}
