//! A small pool of target connections bounded by a semaphore: at most `size`
//! statements of one kind (index builds, vacuums) run at once, and their
//! connections are reused instead of reopened. A pool may also be bounded
//! by a semaphore shared with other pools (the databases of one
//! `--all-databases` run), so that their sum stays within one limit.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use crate::connections::connect_target_worker;
use crate::conninfo::ConnInfo;

pub struct Pool {
    info: ConnInfo,
    /// Session settings for this kind of work, applied to each new connection.
    setup: String,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    shared: Option<Arc<Semaphore>>,
}

impl Pool {
    pub fn new(info: ConnInfo, size: usize, setup: String) -> Arc<Pool> {
        Self::bounded(info, size, setup, None)
    }

    /// A pool whose loans also each hold a permit of `shared`, when given.
    pub fn bounded(
        info: ConnInfo,
        size: usize,
        setup: String,
        shared: Option<Arc<Semaphore>>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            info,
            setup,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
            shared,
        })
    }

    /// Wait for a free slot, then hand out an idle connection or a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Pooled> {
        let permit = self.permits.clone().acquire_owned().await?;
        let shared_permit = match &self.shared {
            Some(s) => Some(s.clone().acquire_owned().await?),
            None => None,
        };
        let reused = crate::sync::lock(&self.idle).pop();
        let client = match reused {
            Some(c) if !c.is_closed() => c,
            _ => {
                let c = connect_target_worker(&self.info).await?;
                if !self.setup.is_empty() {
                    c.batch_execute(&self.setup).await?;
                }
                c
            }
        };
        Ok(Pooled {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
            _shared_permit: shared_permit,
        })
    }
}

/// A connection on loan; goes back to the pool when dropped.
pub struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    _shared_permit: Option<OwnedSemaphorePermit>,
}

impl Deref for Pooled {
    type Target = Client;
    // `client` is only taken by `drop`, after which nothing derefs.
    #[allow(clippy::expect_used)]
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("pooled client")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                crate::sync::lock(&self.pool.idle).push(c);
            }
        }
    }
}
