//! Live progress: counters the workers advance, and a reporter that shows
//! them as progress bars on a terminal or as periodic log lines otherwise.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::report::size::{pg_size_pretty, transmit_rate};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use super::in_flight::InFlight;
use super::logging::bars;

#[derive(Default)]
pub struct Progress {
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
    /// Rows of the copies committed so far.
    pub rows_done: AtomicU64,
    pub tables_total: AtomicUsize,
    pub tables_done: AtomicUsize,
    pub indexes_total: AtomicUsize,
    pub indexes_done: AtomicUsize,
    /// Units of work that failed.
    pub errors: AtomicUsize,
    in_flight: Mutex<BTreeSet<String>>,
    /// The servers' latest word on our COPYs and index builds.
    sampled: Mutex<InFlight>,
}

impl Progress {
    pub fn start_table(&self, label: &str) {
        crate::sync::lock(&self.in_flight).insert(label.to_string());
    }
    pub fn finish_table(&self, label: &str) {
        crate::sync::lock(&self.in_flight).remove(label);
        self.tables_done.fetch_add(1, Ordering::Relaxed);
    }
    fn in_flight(&self) -> String {
        let set = crate::sync::lock(&self.in_flight);
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
    /// Tables (or parts) being copied now.
    pub fn copying(&self) -> usize {
        crate::sync::lock(&self.in_flight).len()
    }
    pub fn set_sampled(&self, sample: InFlight) {
        *crate::sync::lock(&self.sampled) = sample;
    }
    pub fn sampled(&self) -> InFlight {
        crate::sync::lock(&self.sampled).clone()
    }
    /// The sampled COPYs and index builds on one line, for the display.
    fn sampled_line(&self) -> String {
        self.sampled().lines().join(" | ")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Show progress until the returned handle is aborted (or `stop` is called).
pub fn spawn_reporter(progress: Arc<Progress>) -> Reporter {
    let handle = match bars() {
        Some(multi) => {
            let bytes = multi.add(ProgressBar::new(0));
            bytes.set_style(
                ProgressStyle::with_template(
                    "data    [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            let tables = multi.add(ProgressBar::new(0));
            tables.set_style(
                ProgressStyle::with_template("tables  {pos}/{len}  indexes {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let flight = multi.add(ProgressBar::new(0));
            flight.set_style(
                ProgressStyle::with_template("copying {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            // What the servers report of the COPYs and index builds.
            let servers = multi.add(ProgressBar::new(0));
            servers.set_style(
                ProgressStyle::with_template("servers {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let bars = vec![
                bytes.clone(),
                tables.clone(),
                flight.clone(),
                servers.clone(),
            ];
            let handle = tokio::spawn(async move {
                loop {
                    bytes.set_length(progress.bytes_total.load(Ordering::Relaxed));
                    bytes.set_position(progress.bytes_done.load(Ordering::Relaxed));
                    tables.set_length(progress.tables_total.load(Ordering::Relaxed) as u64);
                    tables.set_position(progress.tables_done.load(Ordering::Relaxed) as u64);
                    tables.set_message(format!(
                        "{}/{}",
                        progress.indexes_done.load(Ordering::Relaxed),
                        progress.indexes_total.load(Ordering::Relaxed)
                    ));
                    flight.set_message(progress.in_flight());
                    servers.set_message(progress.sampled_line());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            return Reporter { handle, bars };
        }
        None => tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let done = progress.bytes_done.load(Ordering::Relaxed);
                let total = progress.bytes_total.load(Ordering::Relaxed).max(1);
                let rate = transmit_rate(done, started.elapsed().as_secs_f64());
                let servers = progress.sampled_line();
                let servers = if servers.is_empty() {
                    servers
                } else {
                    format!("; servers: {servers}")
                };
                tracing::info!(
                    "progress: {} of {} ({:.0}%), {}; tables {}/{}, indexes {}/{}; copying: {}{servers}",
                    pg_size_pretty(done),
                    pg_size_pretty(total),
                    100.0 * done as f64 / total as f64,
                    rate,
                    progress.tables_done.load(Ordering::Relaxed),
                    progress.tables_total.load(Ordering::Relaxed),
                    progress.indexes_done.load(Ordering::Relaxed),
                    progress.indexes_total.load(Ordering::Relaxed),
                    progress.in_flight()
                );
            }
        }),
    };
    Reporter {
        handle,
        bars: Vec::new(),
    }
}

pub struct Reporter {
    handle: JoinHandle<()>,
    bars: Vec<ProgressBar>,
}

impl Reporter {
    pub fn stop(self) {
        self.handle.abort();
        for b in self.bars {
            b.finish_and_clear();
        }
    }
}
