//! Signals and cancellation. The first SIGINT/SIGTERM sends a PostgreSQL
//! cancel request for every query in flight on either server, so that
//! nothing keeps running after we stop; the run then unwinds, rolling back
//! open target transactions and leaving interrupted units unfinished in the
//! state, to be redone by `--resume`. A second signal exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use futures_util::future::join_all;
use tokio::sync::Notify;
use tokio_postgres::{CancelToken, Client};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::Endpoint;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static NOTIFY: OnceLock<Notify> = OnceLock::new();
/// Each connection's cancel token, its TLS connector, and for connections
/// over a socket we opened (the COPY relay's) where to send the request.
type Canceller = (CancelToken, MakeRustlsConnect, Option<Endpoint>);
static TOKENS: Mutex<Vec<Canceller>> = Mutex::new(Vec::new());

fn notify() -> &'static Notify {
    NOTIFY.get_or_init(Notify::new)
}

/// Remember how to cancel this connection's queries.
pub fn register(client: &Client, tls: MakeRustlsConnect) {
    let mut tokens = crate::sync::lock(&TOKENS);
    tokens.push((client.cancel_token(), tls, None));
}

/// Remember how to cancel the queries of a connection opened over our own
/// socket (its token cannot open a socket by itself).
pub fn register_tapped(client: &Client, tls: MakeRustlsConnect, endpoint: Endpoint) {
    let mut tokens = crate::sync::lock(&TOKENS);
    tokens.push((client.cancel_token(), tls, Some(endpoint)));
}

pub fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Resolves once the run has been interrupted.
pub async fn cancelled() {
    loop {
        let notified = notify().notified();
        if is_cancelled() {
            return;
        }
        notified.await;
    }
}

/// Cancel every query in flight on every connection we opened.
pub async fn cancel_all() {
    let tokens: Vec<_> = crate::sync::lock(&TOKENS).clone();
    let requests = tokens.into_iter().map(|(token, tls, endpoint)| async move {
        match endpoint {
            Some(e) => e.cancel(&token, &tls).await,
            None => token.cancel_query(tls).await.map_err(Into::into),
        }
    });
    // A connection that is idle or gone answers nothing useful; ignore it.
    let _ = join_all(requests).await;
}

/// Stop the run: mark it cancelled, wake whoever waits, cancel queries.
pub async fn interrupt() {
    CANCELLED.store(true, Ordering::SeqCst);
    notify().notify_waiters();
    cancel_all().await;
}

/// Watch SIGINT and SIGTERM for the rest of the process.
pub fn install_handlers() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install signal handlers");
        return;
    };
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            count += 1;
            if count > 1 {
                crate::report::stdout::eprintln("second signal: exiting now");
                std::process::exit(130);
            }
            tracing::warn!(
                "interrupted: cancelling queries on both servers (signal again to exit at once)"
            );
            // Cancelling takes a round trip per connection: do it aside so
            // that a second signal is heard meanwhile.
            tokio::spawn(interrupt());
        }
    });
}

/// Run `work` to its end, unless the run is interrupted: then let it unwind
/// for a few seconds (cancelled queries fail, transactions roll back, units
/// in flight stay unfinished in the state) and fail with `how_to_resume`.
pub async fn unless_interrupted<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
    how_to_resume: String,
) -> anyhow::Result<T> {
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => result,
        _ = cancelled() => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut work).await;
            Err(crate::error::Failure::interrupted(format!("interrupted: {how_to_resume}")).into())
        }
    }
}
