//! What a follow did, printed at its end.

use std::fmt::Write;

use crate::stream::lsn::Lsn;

#[derive(Debug, Clone, Default)]
pub struct FollowSummary {
    pub slot_name: String,
    pub origin: String,
    pub startpos: Lsn,
    pub endpos: Option<Lsn>,
    /// Applying stopped because endpos was reached (not interrupted, not
    /// receive-only, not the end of a catch-up).
    pub reached_endpos: bool,
    /// Received and written to the store.
    pub written: Lsn,
    /// Durably stored (what the slot was told is flushed).
    pub flushed: Lsn,
    /// Applied on the target (the origin's position).
    pub applied: Lsn,
    pub transactions: u64,
    pub rows: u64,
    /// Transactions already on the target, skipped.
    pub skipped: u64,
    pub sequences: Option<usize>,
    /// Fsyncs of the store.
    pub syncs: u64,
    pub seconds: f64,
}

impl FollowSummary {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rate = |n: u64| n as f64 / self.seconds.max(0.001);
        let _ = writeln!(
            out,
            "slot {} (origin {}): started at {}, endpos {}",
            self.slot_name,
            self.origin,
            self.startpos,
            self.endpos.map_or("none".to_string(), |l| l.to_string())
        );
        let _ = writeln!(
            out,
            "received up to {}, stored durably up to {}, applied up to {}",
            self.written, self.flushed, self.applied
        );
        let _ = writeln!(
            out,
            "stored with {} fsyncs ({:.1}/s)",
            self.syncs,
            self.syncs as f64 / self.seconds.max(0.001)
        );
        let _ = writeln!(
            out,
            "applied {} transactions and {} rows in {:.1}s ({:.0} tx/s, {:.0} rows/s); {} already on the target skipped",
            self.transactions,
            self.rows,
            self.seconds,
            rate(self.transactions),
            rate(self.rows),
            self.skipped
        );
        if let Some(n) = self.sequences {
            let _ = writeln!(out, "set {n} sequences on the target");
        }
        if self.reached_endpos {
            let _ = writeln!(out, "endpos reached");
        }
        out
    }
}
