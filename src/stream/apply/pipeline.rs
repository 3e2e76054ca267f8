//! Statements in flight on one connection: each is sent the moment it is
//! queued, in queue order, and their results are read back in that order.
//! tokio-postgres sends a request on the first poll of its future, so a
//! future is polled once when queued (which fixes its place on the wire)
//! and awaited later; the server runs them back to back, one round trip
//! for a whole window instead of one per statement.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio_postgres::{Client, Statement};

use super::param::Param;

type Pending = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send>>;

/// Bounds of what is in flight: enough to hide the round trip, little
/// enough that memory stays flat whatever the transaction's size.
pub const MAX_STATEMENTS: usize = 2048;
const MAX_BYTES: usize = 8 << 20;

pub struct Pipeline<T> {
    client: Arc<Client>,
    queue: VecDeque<(Pending, T, usize)>,
    bytes: usize,
    max_statements: usize,
}

impl<T> Pipeline<T> {
    pub fn new(client: Arc<Client>) -> Self {
        Pipeline {
            client,
            queue: VecDeque::new(),
            bytes: 0,
            max_statements: MAX_STATEMENTS,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// More in flight than the bounds allow: settle the oldest first.
    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.max_statements || self.bytes >= MAX_BYTES
    }

    /// At most `n` statements in flight (1: each is answered before the
    /// next is sent, for measurements).
    pub fn set_max_statements(&mut self, n: usize) {
        self.max_statements = n.max(1);
    }

    /// Send a prepared statement with its parameters.
    pub fn execute(&mut self, statement: &Statement, params: Arc<Vec<Param>>, tag: T) {
        let bytes = params.iter().map(Param::wire_len).sum::<usize>() + 64;
        let client = self.client.clone();
        let statement = statement.clone();
        self.push(
            Box::pin(async move { client.execute_raw(&statement, params.iter()).await }),
            tag,
            bytes,
        );
    }

    /// Send a statement without parameters by the simple query protocol
    /// (BEGIN, COMMIT, TRUNCATE): no Parse round trip.
    pub fn simple(&mut self, sql: String, tag: T) {
        let client = self.client.clone();
        let bytes = sql.len();
        self.push(
            Box::pin(async move { client.batch_execute(&sql).await.map(|()| 0) }),
            tag,
            bytes,
        );
    }

    fn push(&mut self, mut pending: Pending, tag: T, bytes: usize) {
        // The first poll encodes the request and hands it to the connection:
        // from here on its place on the wire is fixed. A result this early
        // (an encoding error) is kept as is and read back in turn.
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(result) = pending.as_mut().poll(&mut cx) {
            pending = Box::pin(std::future::ready(result));
        }
        self.bytes += bytes;
        self.queue.push_back((pending, tag, bytes));
    }

    /// The oldest statement's result, once the server has answered it.
    pub async fn next(&mut self) -> Option<(T, Result<u64, tokio_postgres::Error>)> {
        let (pending, tag, bytes) = self.queue.pop_front()?;
        self.bytes -= bytes;
        Some((tag, pending.await))
    }
}
