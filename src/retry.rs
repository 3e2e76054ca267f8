//! How long to wait before retrying what a broken link or a full server
//! refused.

use std::time::Duration;

/// Base delay between retries, doubled each time (PGCOPYDB_RETRY_DELAY_MS,
/// default one second; tests shorten it).
pub fn base_delay() -> Duration {
    let ms = std::env::var("PGCOPYDB_RETRY_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}
