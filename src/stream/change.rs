//! What every output plugin's stream is decoded into, and what the applier
//! consumes: the same model for `pgoutput`, `test_decoding` and `wal2json`.
//!
//! Values stay in PostgreSQL's text representation (or its binary one when
//! the stream was asked for binary and the type is proven safe, as for
//! COPY), so a value is never reinterpreted by the tool on its way through.

use std::sync::Arc;

use bytes::Bytes;

use super::lsn::Lsn;

/// Identifies a relation within one stream: pgoutput's relation OID, or a
/// number the text decoders give each schema-qualified name.
pub type RelId = u32;

/// One decoded message, in stream order. A transaction is `Begin`, its
/// changes, `Commit`; relations are described before their first change.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Begin {
        xid: u32,
        /// LSN of the commit record (pgoutput says it up front; the text
        /// plugins do not).
        final_lsn: Option<Lsn>,
        /// Microseconds since 2000-01-01 UTC (PostgreSQL's epoch), when known.
        commit_time: Option<i64>,
    },
    Commit {
        /// LSN of the commit record, when the plugin says it.
        commit_lsn: Option<Lsn>,
        /// End of the commit record: the position the target's replication
        /// origin records, and the one a restart asks the slot for. A
        /// transaction whose `end_lsn` is at or below the origin's progress
        /// is already on the target.
        end_lsn: Lsn,
        commit_time: Option<i64>,
    },
    /// The shape of a relation, sent before its first change and again
    /// whenever it changes. Later changes refer to it by `id`.
    Relation(Arc<Relation>),
    Insert {
        relation: RelId,
        new: Tuple,
    },
    Update {
        relation: RelId,
        /// The old key (`OldTuple::Key`) when the key changed, the whole old
        /// row under `REPLICA IDENTITY FULL`; `None` when the key is unchanged
        /// (it is then read from `new`).
        old: Option<OldTuple>,
        new: Tuple,
    },
    Delete {
        relation: RelId,
        old: OldTuple,
    },
    Truncate {
        relations: Vec<RelId>,
        cascade: bool,
        restart_identity: bool,
    },
    /// `pg_logical_emit_message` output; not applied, kept for the record.
    Message {
        transactional: bool,
        prefix: String,
        content: Bytes,
    },
}

/// A relation as the stream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: RelId,
    pub schema: String,
    pub name: String,
    pub replica_identity: ReplicaIdentity,
    /// Every column the stream carries, in tuple order (generated columns
    /// are never part of it).
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The source's type OID: meaningful for built-in types only, the
    /// target may number the others differently.
    pub type_oid: u32,
    pub type_modifier: i32,
    /// Part of the replica identity: these columns locate the row for an
    /// UPDATE or DELETE.
    pub is_key: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// The primary key.
    Default,
    /// No identity: UPDATE and DELETE cannot be located; applying one is an error.
    Nothing,
    /// The whole old row.
    Full,
    /// A unique index chosen with `REPLICA IDENTITY USING INDEX`.
    Index,
}

/// One value per column of the relation, in the relation's column order.
pub type Tuple = Vec<Value>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// A TOASTed value the change did not touch (pgoutput's `u`): the column
    /// must be left out of the UPDATE, never set to anything.
    Unchanged,
    /// PostgreSQL's text representation.
    Text(Bytes),
    /// PostgreSQL's binary (send/receive) representation.
    Binary(Bytes),
}

/// The old row of an UPDATE or DELETE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// Only the replica identity's columns carry values (others are `Null`).
    Key(Tuple),
    /// The whole old row (`REPLICA IDENTITY FULL`).
    Full(Tuple),
}

impl OldTuple {
    pub fn values(&self) -> &Tuple {
        match self {
            OldTuple::Key(t) | OldTuple::Full(t) => t,
        }
    }
}
