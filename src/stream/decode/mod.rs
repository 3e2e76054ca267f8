//! Output plugins' bytes into [`Change`]s.
//!
//! Each XLogData message of the replication stream (or each row of
//! `pg_logical_slot_peek_binary_changes`, which carries the same bytes) is
//! handed to the decoder of the slot's plugin with its LSN.

use bytes::Bytes;

use super::change::Change;
use super::lsn::Lsn;

/// The logical decoding output plugins a slot may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plugin {
    #[default]
    Pgoutput,
    TestDecoding,
    Wal2json,
}

impl Plugin {
    /// The name `CREATE_REPLICATION_SLOT` and `pg_replication_slots` use.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::Pgoutput => "pgoutput",
            Plugin::TestDecoding => "test_decoding",
            Plugin::Wal2json => "wal2json",
        }
    }

    pub fn from_name(name: &str) -> Option<Plugin> {
        match name {
            "pgoutput" => Some(Plugin::Pgoutput),
            "test_decoding" => Some(Plugin::TestDecoding),
            "wal2json" => Some(Plugin::Wal2json),
            _ => None,
        }
    }
}

/// A message the decoder could not make sense of: the stream cannot be
/// applied faithfully past it, so the follower stops on it.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the {plugin} message at {lsn}: {reason}")]
pub struct DecodeError {
    pub plugin: &'static str,
    pub lsn: Lsn,
    pub reason: String,
}

/// Turns one plugin message into zero or more changes. Decoders keep state
/// (pgoutput's relations, the text plugins' name-to-id map), so one decoder
/// reads one stream from its start (or from a point where every relation is
/// described again, such as a store segment's head).
pub trait Decoder: Send {
    fn decode(&mut self, lsn: Lsn, data: &[u8], out: &mut Vec<Change>) -> Result<(), DecodeError>;

    /// [`Decoder::decode`] of a message held in `Bytes`: a decoder may then
    /// make the values views of it instead of copies (no allocation per
    /// value; the message is freed with its last value).
    fn decode_shared(
        &mut self,
        lsn: Lsn,
        data: &Bytes,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        self.decode(lsn, data, out)
    }
}

/// `part` as a view of `whole` when it lies within it, else a copy.
pub(crate) fn view_or_copy(whole: Option<&Bytes>, part: &[u8]) -> Bytes {
    match whole {
        Some(whole) if within(whole, part) => whole.slice_ref(part),
        _ => Bytes::copy_from_slice(part),
    }
}

/// `part` lies within `whole`'s bytes.
pub(crate) fn within(whole: &[u8], part: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

pub mod cursor;
pub mod options;
pub mod pgoutput;
pub mod tables;
pub mod test_decoding;
mod text_relations;
mod timestamp;
pub mod wal2json;
