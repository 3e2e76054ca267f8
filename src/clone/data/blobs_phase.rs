//! Large objects, copied by `--large-objects-jobs` workers, each in the slot
//! of a copy worker that ran out of tables; each one done is recorded so that
//! a resumed run skips it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use futures_util::future::join_all;

use super::Shared;
use crate::blobs::copy_large_object;
use crate::connections::connect_target_worker;
use crate::snapshot::open_reader;
use crate::workdir::state::Unit;

pub(super) async fn copy_large_objects(shared: Arc<Shared>, oids: Vec<u32>) {
    let queue: VecDeque<u32> = oids
        .into_iter()
        .filter(|oid| !shared.is_done(&Unit::LargeObject(*oid)))
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let workers =
        (0..shared.opts.large_objects_jobs).map(|_| worker(shared.clone(), queue.clone()));
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
    let _slot = shared.copy_slots.clone().acquire_owned().await?;
    if crate::sync::lock(&queue).is_empty() {
        return Ok(());
    }
    let source = open_reader(&shared.endpoints.source, shared.snapshot.as_deref()).await?;
    let target = connect_target_worker(&shared.endpoints.target).await?;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let Some(oid) = crate::sync::lock(&queue).pop_front() else {
            return Ok(());
        };
        let bytes = copy_large_object(&source, &target, oid).await?;
        let unit = Unit::LargeObject(oid);
        crate::failpoint!("large-object-copied", &format!("large object {oid}"));
        shared
            .state
            .done_quick(&unit, &format!("large object {oid}"), bytes)?;
    }
}
