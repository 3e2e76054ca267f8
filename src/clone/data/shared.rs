//! What the data phase's workers share, in owned pieces: the settings, the
//! plan (read only), the schedule, the connection pools, the ledger, the
//! timings and the outcome. Only the copy queue, the schedule, the
//! results and the after-copy task set are behind locks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::warn;

use super::plan::Plan;
use super::schedule::Schedule;
use super::table_copy::CopyJob;
use crate::catalog::Table;
use crate::clone::CloneOptions;
use crate::connections::Endpoints;
use crate::copy::{CopyFormat, CopyHow, CopyStats};
use crate::error::{Error, Side};
use crate::interrupt;
use crate::pool::{Pool, Pooled};
use crate::report::costs::Costs;
use crate::report::progress::Progress;
use crate::report::summary::TableReport;
use crate::workdir::state::{Ledger, Unit};

/// While tables are still copying, every core is already busy with our own
/// jobs; a parallel index build then only adds workers that wait on each
/// other for CPU (measured: 0.5 s lost on a 11 s clone on 2 cores). Once
/// the copies are done, builds may use the server's parallel workers again.
const SERIAL_BUILDS: &str = "SET max_parallel_maintenance_workers = 0";
const PARALLEL_BUILDS: &str = "SET max_parallel_maintenance_workers = DEFAULT";

/// How the phase connects and copies, fixed for the run.
pub(super) struct Settings {
    pub endpoints: Endpoints,
    pub snapshot: Option<String>,
    pub opts: CloneOptions,
    pub same_major: bool,
    /// The source has `pg_column_compression` (PostgreSQL 14+): tables are
    /// checked for columns without compressed values before their copy.
    pub check_compression: bool,
    /// `SET default_toast_compression` for the copy sessions, when the
    /// source has the setting (see `Catalog::toast_compression`).
    pub toast_compression: Option<String>,
}

/// The target connections of the phase.
pub(super) struct Pools {
    /// Index builds, and the ANALYZE that follows them: together at most
    /// `--index-jobs` target connections (see README, Connections per side).
    pub index: Arc<Pool>,
    /// For DDL that only writes the catalog: attaching built indexes as
    /// PRIMARY KEY / UNIQUE constraints, and the indexes of partitioned tables
    /// (each partition's index is built by then, and is attached). It must
    /// not queue behind long builds in `index`: the table's ANALYZE and
    /// the foreign keys that reference it wait for it.
    pub ddl: Arc<Pool>,
    /// `--table-jobs` slots, each one source and one target connection:
    /// held by the copy workers, then by the large-object workers as the
    /// copy workers run out of tables, so that together they never open
    /// more connections than `--table-jobs` per side.
    pub copy_slots: Arc<Semaphore>,
    /// Copy workers still taking tables from the queue.
    pub copiers_running: AtomicUsize,
}

/// When the last copy and the last index work ended, from the phase's start.
pub(super) struct Timings {
    started: Instant,
    last_copy: AtomicU64,
    last_index: AtomicU64,
}

impl Timings {
    pub fn new() -> Timings {
        Timings {
            started: Instant::now(),
            last_copy: AtomicU64::new(0),
            last_index: AtomicU64::new(0),
        }
    }
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    pub fn copy_ended(&self) {
        self.last_copy.fetch_max(self.now(), Ordering::Relaxed);
    }
    pub fn index_work_ended(&self) {
        self.last_index.fetch_max(self.now(), Ordering::Relaxed);
    }
    pub fn last_copy(&self) -> Duration {
        Duration::from_nanos(self.last_copy.load(Ordering::Relaxed))
    }
    pub fn last_index(&self) -> Duration {
        Duration::from_nanos(self.last_index.load(Ordering::Relaxed))
    }
}

/// What the phase reports at its end.
#[derive(Default)]
pub(super) struct Outcome {
    pub reports: Mutex<Vec<TableReport>>,
    pub failures: Mutex<Vec<Error>>,
    /// A copy failed on a connection error after all its retries: no more
    /// tables are started (they would each retry against a server that is
    /// gone); the run ends with what is done, for `--resume`.
    pub server_lost: AtomicBool,
    /// Some table's data is not in.
    pub copy_failed: AtomicBool,
    /// Copies whose source and target row counts differed.
    pub count_mismatches: AtomicUsize,
}

pub(super) struct Shared {
    pub settings: Settings,
    pub plan: Plan,
    /// What may start when a part, a table or a partitioned table is in.
    pub schedule: Mutex<Schedule>,
    pub queue: Mutex<VecDeque<CopyJob>>,
    pub pools: Pools,
    pub ledger: Ledger,
    pub progress: Arc<Progress>,
    pub timings: Timings,
    /// Time per kind of work (shared with the ledger, which counts its writes).
    pub costs: Arc<Costs>,
    pub outcome: Outcome,
    /// Work that follows a table's copy (indexes, constraints, foreign keys).
    pub after: Mutex<JoinSet<()>>,
}

impl Shared {
    pub fn opts(&self) -> &CloneOptions {
        &self.settings.opts
    }

    /// An earlier run finished `unit`.
    pub fn is_done(&self, unit: &Unit) -> bool {
        self.plan.rules.is_done(unit)
    }

    /// Record a failed unit; with --fail-fast, stop everything else too.
    pub async fn fail(&self, unit: Option<&Unit>, failure: Error) {
        if interrupt::is_cancelled() {
            return;
        }
        warn!("{failure}");
        self.progress.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(unit) = unit {
            let _ = self.ledger.failed(unit, &failure.message);
        }
        crate::sync::lock(&self.outcome.failures).push(failure);
        if self.opts().fail_fast {
            interrupt::cancel_all().await;
        }
    }

    /// Record a failed unit of work on the target (an index, constraints,
    /// vacuum, a foreign key, sequences): its error is the target's unless
    /// it says otherwise.
    pub async fn fail_on_target(&self, unit: Option<&Unit>, err: &anyhow::Error) {
        self.fail(unit, Error::classify(err).or_on(Side::Target))
            .await
    }

    /// One unit of work on the target: take a connection, then
    /// [`Ledger::recorded`]. Any failure along the way, not only the
    /// work's, is recorded against the unit and reported; the error is
    /// returned for callers whose next steps depend on the unit.
    pub async fn run_target_unit<W, F>(
        &self,
        unit: &Unit,
        label: &str,
        connection: impl std::future::Future<Output = Result<Pooled>>,
        work: W,
    ) -> Result<()>
    where
        W: FnOnce(Pooled) -> F,
        F: std::future::Future<Output = Result<()>>,
    {
        let result = async {
            let conn = connection.await?;
            self.ledger
                .recorded(unit, label, 0, work(conn), |()| Ok((0, 0)))
                .await??;
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            self.fail_on_target(Some(unit), e).await;
        }
        result
    }

    pub fn stopping(&self) -> bool {
        interrupt::is_cancelled()
            || self.outcome.server_lost.load(Ordering::Relaxed)
            || (self.opts().fail_fast && !crate::sync::lock(&self.outcome.failures).is_empty())
    }

    pub fn format_for(&self, table: &Table) -> CopyFormat {
        super::format::copy_format(self.opts().copy_format, self.settings.same_major, table)
    }

    /// How `table`'s COPY goes: its format, the columns to copy without
    /// compression attempts, the kind of target relation.
    pub fn copy_how<'a>(&self, table: &Table, uncompressed: &'a [String]) -> CopyHow<'a> {
        CopyHow {
            format: self.format_for(table),
            uncompressed,
            target: self.plan.rules.target_relation(table),
        }
    }

    /// A connection for an index build, told whether it may use parallel
    /// workers.
    pub async fn index_connection(&self) -> Result<Pooled> {
        let conn = self.pools.index.get().await?;
        // With --all-databases, copies of the other databases count too.
        let copying = self.pools.copiers_running.load(Ordering::Relaxed) > 0
            || self
                .opts()
                .limits
                .as_ref()
                .is_some_and(|l| l.copiers.load(Ordering::Relaxed) > 0);
        conn.batch_execute(if copying {
            SERIAL_BUILDS
        } else {
            PARALLEL_BUILDS
        })
        .await?;
        Ok(conn)
    }

    /// CREATE INDEX IF NOT EXISTS when the index may already be there: on
    /// resume, when the data was copied by an earlier step, or on a target
    /// schema prepared by the user (`copy data`: a clone refuses existing
    /// tables).
    pub fn index_if_not_exists(&self) -> bool {
        let steps = self.plan.rules.steps();
        self.opts().resume || !steps.table_data || !steps.whole_run
    }

    /// A part of `table` is copied; returns the table's total once its last
    /// part is in (at once for a table copied whole).
    pub fn part_done(&self, table: &Table, stats: &CopyStats) -> Option<CopyStats> {
        crate::sync::lock(&self.schedule).part_done(table, stats)
    }

    /// Run `work` with the rest of what follows the copies.
    pub fn spawn_after(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        crate::sync::lock(&self.after).spawn(work);
    }
}
