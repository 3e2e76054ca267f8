//! Reconnecting after a lost link: a source or target restart, or a broken
//! connection, ends one attempt of the pipeline; the next one starts from
//! what is durable (the store's last commit, the target origin's position),
//! exactly as a `--resume` after a crash would, so nothing is lost and
//! nothing applied twice. Bounded: a server that stays away ends the run
//! with a retryable error, and `--resume` continues it later.

use std::time::Duration;

use crate::error::{Error, Kind};

/// Attempts in a row that made no progress before giving up.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Whether `e` ended an attempt in a way a new one may get past: a link
/// that broke, or a server that no longer answers (it did when the run
/// began: it is restarting).
pub fn worth_reconnecting(e: &anyhow::Error) -> bool {
    let kind = Error::classify(e).kind;
    kind.is_retryable() || kind == Kind::CannotConnect
}

/// The wait before attempt `attempt` (1 for the first retry): the base
/// delay doubled each time, capped.
pub fn delay(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Side;

    #[test]
    fn the_wait_doubles_up_to_a_cap() {
        let base = Duration::from_secs(1);
        assert_eq!(delay(base, 1), base);
        assert_eq!(delay(base, 3), Duration::from_secs(4));
        assert_eq!(delay(base, 9), MAX_DELAY);
        assert_eq!(delay(base, u32::MAX), MAX_DELAY);
    }

    #[test]
    fn lost_links_are_retried_refusals_are_not() {
        let lost = Error::new(Kind::ConnectionLost, Side::Source, "gone");
        let down = Error::new(Kind::CannotConnect, Side::Target, "refused");
        let bad = Error::new(Kind::Rejected, Side::Target, "duplicate key");
        assert!(worth_reconnecting(&lost.into()));
        assert!(worth_reconnecting(&down.into()));
        assert!(!worth_reconnecting(&bad.into()));
    }
}
