//! The store of received changes: plugin messages appended as (LSN, bytes)
//! records to segment files under `<dir>/cdc/`, private like the rest of the
//! work directory.
//!
//! - Group commit: the writer fsyncs per batch (every [`SYNC_INTERVAL`] or
//!   [`SYNC_BYTES`], and when asked), never per change; what it reports as
//!   durable — the end of the last commit fsynced — is all the slot may be
//!   told is flushed.
//! - Segments are named by the position they start after (the end of the
//!   previous segment's last commit, as 16 hex digits), rotate past a size
//!   limit only after a commit, and start with the relations (pgoutput `R`)
//!   seen so far, so that each decodes on its own.
//! - A reader tails the segments: it follows the writer live (woken on each
//!   write, no waiting for fsync), and after a restart starts at the segment
//!   holding a given position.
//! - A torn last record after a crash (length and checksum) is cut off when
//!   the writer opens the store, with the partial transaction before it.

mod crc;
pub mod reader;
pub mod record;
pub mod segments;
pub mod writer;

use std::time::Duration;

pub use reader::StoreReader;
pub use record::{Kind, Record};
pub use writer::StoreWriter;

/// Fsync at least this often while changes arrive.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Or as soon as this much is written since the last fsync.
pub const SYNC_BYTES: u64 = 16 << 20;

/// How far the writer has written: the reader may read up to `offset` of
/// segment `segment` (and all of the segments before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    pub segment: crate::stream::lsn::Lsn,
    pub offset: u64,
    /// The writer is gone: read what is there, then stop.
    pub closed: bool,
}

#[cfg(test)]
mod tests;
