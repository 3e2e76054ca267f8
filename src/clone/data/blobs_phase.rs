//! Large objects, copied by `--large-objects-jobs` workers, each in the slot
//! of a copy worker that ran out of tables. Each worker takes up to
//! [`BATCH_OBJECTS`] at a time, measures them, and copies the small ones in
//! batches (one target transaction each) and the big ones streamed alone;
//! each batch is recorded done in one state commit once the target has
//! committed it, so that a resumed run redoes only unfinished batches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use futures_util::future::join_all;

use super::shared::Shared;
use crate::blobs::{copy_batch, copy_large_object, plan, sizes, BATCH_OBJECTS};
use crate::connections::connect_target_worker;
use crate::snapshot::open_reader;
use crate::workdir::state::Unit;

pub(super) async fn copy_large_objects(shared: Arc<Shared>) {
    let queue: VecDeque<u32> = (shared.plan.large_objects.iter().copied())
        .filter(|oid| !shared.is_done(&Unit::LargeObject(*oid)))
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let workers =
        (0..shared.opts().large_objects_jobs).map(|_| worker(shared.clone(), queue.clone()));
    for result in join_all(workers).await {
        if let Err(e) = result {
            // Reads on the source say so; the rest is written on the target.
            let failure = crate::error::Error::classify(&e.context("large objects"))
                .or_on(crate::error::Side::Target);
            shared.fail(None, failure).await;
        }
    }
}

async fn worker(shared: Arc<Shared>, queue: Arc<Mutex<VecDeque<u32>>>) -> Result<()> {
    // A copy worker's slot, once it has no table left to copy.
    let _slot = shared.pools.copy_slots.clone().acquire_owned().await?;
    if crate::sync::lock(&queue).is_empty() {
        return Ok(());
    }
    let source = open_reader(
        &shared.settings.endpoints.source,
        shared.settings.snapshot.as_deref(),
    )
    .await?;
    let target = connect_target_worker(&shared.settings.endpoints.target).await?;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let taken: Vec<u32> = {
            let mut q = crate::sync::lock(&queue);
            let n = q.len().min(BATCH_OBJECTS);
            q.drain(..n).collect()
        };
        if taken.is_empty() {
            return Ok(());
        }
        let (batches, big) = plan(&sizes(&source, &taken).await?);
        for batch in batches {
            if shared.stopping() {
                return Ok(());
            }
            let oids: Vec<u32> = batch.iter().map(|(oid, _)| *oid).collect();
            let (grown, _) = copy_batch(&source, &target, &oids).await?;
            let copied: Vec<(u32, u64)> = batch
                .into_iter()
                .filter(|(oid, _)| !grown.contains(oid))
                .collect();
            record(&shared, &copied)?;
            for oid in grown {
                let bytes = copy_large_object(&source, &target, oid).await?;
                record(&shared, &[(oid, bytes)])?;
            }
        }
        for (oid, _) in big {
            if shared.stopping() {
                return Ok(());
            }
            let bytes = copy_large_object(&source, &target, oid).await?;
            record(&shared, &[(oid, bytes)])?;
        }
    }
}

/// Large objects committed on the target, recorded done together.
fn record(shared: &Shared, copied: &[(u32, u64)]) -> Result<()> {
    let (Some(first), Some(last)) = (copied.first(), copied.last()) else {
        return Ok(());
    };
    let about = format!("large objects {} to {}", first.0, last.0);
    crate::failpoint!("large-object-copied", &about);
    drop(about); // only a failpoint build reads it
    let units: Vec<(Unit, String, u64)> = copied
        .iter()
        .map(|&(oid, bytes)| (Unit::LargeObject(oid), format!("large object {oid}"), bytes))
        .collect();
    shared.ledger.done_quick_many(&units)
}
