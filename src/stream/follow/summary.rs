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
    /// UPDATEs and DELETEs that found no row on the target, skipped with a
    /// warning (`--not-consistent` only; otherwise they stop the follow).
    pub missing_rows: u64,
    pub sequences: Option<usize>,
    /// The source's WAL position at the end (None: it could not be read).
    pub source_lsn: Option<Lsn>,
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
        if let Some(source) = self.source_lsn {
            let _ = writeln!(
                out,
                "source at {source}: applied is {} bytes behind",
                source.0.saturating_sub(self.applied.0)
            );
        }
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
        if self.missing_rows > 0 {
            let _ = writeln!(
                out,
                "{} updates and deletes found no row on the target and were skipped (--not-consistent)",
                self.missing_rows
            );
        }
        if let Some(n) = self.sequences {
            let _ = writeln!(out, "set {n} sequences on the target");
        }
        if self.reached_endpos {
            let _ = writeln!(out, "endpos reached");
        }
        out
    }
}
