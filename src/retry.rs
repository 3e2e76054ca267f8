//! How long to wait before retrying what a broken link or a full server
//! refused.

use std::time::{Duration, Instant};

/// Base delay between retries, doubled each time (PGCOPYDB_RETRY_DELAY_MS,
/// default one second; tests shorten it).
pub fn base_delay() -> Duration {
    let ms = std::env::var("PGCOPYDB_RETRY_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

/// How long an object still in use (a slot, a replication origin) may take
/// to be released before a drop gives up: the server ends the session of a
/// process just killed when it notices, on its own time.
pub const RELEASE_GUARD: Duration = Duration::from_secs(60);

/// After finding an object in use since `started`: waits a little and
/// says whether to try again (false once [`RELEASE_GUARD`] has passed).
pub async fn released_soon(started: Instant) -> bool {
    if started.elapsed() >= RELEASE_GUARD {
        return false;
    }
    tokio::time::sleep(base_delay().min(Duration::from_millis(500))).await;
    true
}
