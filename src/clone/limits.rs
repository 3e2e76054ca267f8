//! Job limits shared by several clones running at once (`--all-databases`):
//! every database keeps its own copy workers and index pool, but a COPY
//! only runs while holding a slot of one instance-wide table gate, and an
//! index, constraint or foreign key only while holding a permit of one
//! instance-wide index semaphore. So the totals never exceed --table-jobs
//! and --index-jobs, however many databases are in flight.
//!
//! The table gate hands a freed slot to the largest waiting item, not to
//! the first that asked: each database queues its tables largest first, so
//! the head items of all databases wait at the gate together, and the
//! largest table of the instance is always the next to go.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Semaphore};

use super::CloneOptions;

/// The instance-wide limits; `None` in [`CloneOptions`] for a single database.
pub struct JobLimits {
    pub tables: Arc<PriorityGate>,
    pub indexes: Arc<Semaphore>,
    /// Copy workers still running in any database: index builds of every
    /// database leave the cores to the copies while there are some.
    pub copiers: AtomicUsize,
}

impl JobLimits {
    pub fn new(table_jobs: usize, index_jobs: usize) -> Arc<JobLimits> {
        Arc::new(JobLimits {
            tables: PriorityGate::new(table_jobs),
            indexes: Arc::new(Semaphore::new(index_jobs.max(1))),
            copiers: AtomicUsize::new(0),
        })
    }
}

impl fmt::Debug for JobLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobLimits")
            .field("tables_free", &self.tables.free())
            .field("indexes_free", &self.indexes.available_permits())
            .finish()
    }
}

/// Wait for an instance-wide COPY slot when the clone shares limits.
pub async fn table_slot(opts: &CloneOptions, bytes: i64) -> Option<GatePermit> {
    match &opts.limits {
        Some(limits) => Some(limits.tables.acquire(bytes).await),
        None => None,
    }
}

/// A counting semaphore that wakes the waiter of highest priority first
/// (earliest arrival among equals).
pub struct PriorityGate {
    state: Mutex<GateState>,
}

struct GateState {
    free: usize,
    waiting: BinaryHeap<Waiter>,
    arrivals: u64,
}

struct Waiter {
    priority: i64,
    arrival: u64,
    wake: oneshot::Sender<()>,
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.arrival.cmp(&self.arrival))
    }
}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiter {}

impl PriorityGate {
    pub fn new(slots: usize) -> Arc<PriorityGate> {
        Arc::new(PriorityGate {
            state: Mutex::new(GateState {
                free: slots.max(1),
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        })
    }

    fn free(&self) -> usize {
        crate::sync::lock(&self.state).free
    }

    /// Wait for a slot; held until the permit is dropped.
    pub async fn acquire(self: &Arc<Self>, priority: i64) -> GatePermit {
        let wait = {
            let mut st = crate::sync::lock(&self.state);
            if st.free > 0 && st.waiting.is_empty() {
                st.free -= 1;
                None
            } else {
                let (wake, woken) = oneshot::channel();
                st.arrivals += 1;
                let arrival = st.arrivals;
                st.waiting.push(Waiter {
                    priority,
                    arrival,
                    wake,
                });
                Some(Pending {
                    gate: self.clone(),
                    woken: Some(woken),
                })
            }
        };
        if let Some(mut pending) = wait {
            // The sender lives in the heap until a slot is handed over.
            if let Some(woken) = pending.woken.as_mut() {
                let _ = woken.await;
            }
            pending.woken = None;
        }
        GatePermit { gate: self.clone() }
    }

    /// Hand the slot to the best waiter still waiting, or free it.
    fn release(&self) {
        let mut st = crate::sync::lock(&self.state);
        while let Some(w) = st.waiting.pop() {
            if w.wake.send(()).is_ok() {
                return;
            }
        }
        st.free += 1;
    }
}

/// A waiter in line; if its future is dropped after a slot was handed to
/// it but before it woke, the slot goes back instead of leaking.
struct Pending {
    gate: Arc<PriorityGate>,
    woken: Option<oneshot::Receiver<()>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut rx) = self.woken.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

/// One slot of a [`PriorityGate`], given back on drop.
pub struct GatePermit {
    gate: Arc<PriorityGate>,
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freed_slots_go_to_the_largest_waiter() {
        let gate = PriorityGate::new(1);
        let first = gate.acquire(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for size in [10, 300, 20, 300, 5] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = gate.acquire(size).await;
                order.lock().unwrap().push(size);
            }));
            // Let each waiter get in line before the next.
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![300, 300, 20, 10, 5]);
        assert_eq!(gate.free(), 1);
    }

    #[tokio::test]
    async fn a_dropped_waiter_does_not_leak_its_slot() {
        let gate = PriorityGate::new(1);
        let held = gate.acquire(0).await;
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _slot = gate.acquire(1).await;
                std::future::pending::<()>().await;
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waiter.abort();
        let _ = waiter.await;
        drop(held);
        assert_eq!(gate.free(), 1);
    }
}
