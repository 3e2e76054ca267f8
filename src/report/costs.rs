//! Where the time of a phase goes, per kind of work: how many times it ran
//! and the time it took, summed over the connections that ran it (so it can
//! exceed the phase's wall time). The summary shows them so that the cost
//! per object (round trips, commits, state writes) is visible next to the
//! cost per byte.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The kinds of work the data phase counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// TRUNCATE and COPY of a table or part, with its commit.
    Copy,
    /// Index builds and constraint attaches, with their commits.
    Indexes,
    /// ANALYZE (or VACUUM ANALYZE) statements.
    Analyze,
    /// Writes of the work directory's state (SQLite).
    StateWrites,
}

const KINDS: [(Cost, &str); 4] = [
    (Cost::Copy, "TRUNCATE + COPY transactions"),
    (Cost::Indexes, "index and constraint transactions"),
    (Cost::Analyze, "ANALYZE statements"),
    (Cost::StateWrites, "state writes (work directory)"),
];

/// Counters shared by the workers of a phase.
#[derive(Default)]
pub struct Costs {
    counts: [AtomicU64; 4],
    nanos: [AtomicU64; 4],
}

/// One line of the summary's cost table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostReport {
    pub work: String,
    pub count: u64,
    pub seconds: f64,
}

impl Costs {
    fn slot(kind: Cost) -> usize {
        KINDS.iter().position(|(k, _)| *k == kind).unwrap_or(0)
    }

    pub fn add(&self, kind: Cost, count: u64, took: Duration) {
        let i = Self::slot(kind);
        if let (Some(c), Some(n)) = (self.counts.get(i), self.nanos.get(i)) {
            c.fetch_add(count, Ordering::Relaxed);
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            n.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// Count one run of `kind` that started at `started`.
    pub fn since(&self, kind: Cost, started: Instant) {
        self.add(kind, 1, started.elapsed());
    }

    /// The kinds that ran, for the summary.
    pub fn report(&self) -> Vec<CostReport> {
        KINDS
            .iter()
            .zip(self.counts.iter().zip(&self.nanos))
            .filter(|(_, (c, _))| c.load(Ordering::Relaxed) > 0)
            .map(|((_, work), (c, n))| CostReport {
                work: (*work).to_string(),
                count: c.load(Ordering::Relaxed),
                seconds: Duration::from_nanos(n.load(Ordering::Relaxed)).as_secs_f64(),
            })
            .collect()
    }
}
