//! `pgoutput`, protocol version 1: the binary messages PostgreSQL's own
//! logical replication uses ("Logical Replication Message Formats" in the
//! PostgreSQL documentation).
//!
//! Options the follower sends with `START_REPLICATION` (see
//! [`super::options`]): `proto_version '1'`, `publication_names '<pub>'` and
//! `messages 'true'` (so `pg_logical_emit_message` output is in the stream).
//! Binary mode (`binary 'true'`, PostgreSQL 14+) stays off: pgoutput would
//! then send every column in binary, including the reg* types, arrays of
//! extension types and composites whose binary form carries the source's
//! OIDs, which `src/catalog/columns.rs` shows are not portable. Text is
//! always faithful, so a `b` value is decoded (as [`Value::Binary`]) but
//! never asked for.
//!
//! Protocol version 1 has no streamed (in-progress) or two-phase
//! transactions: their message types (S, E, c, A, b, P, K, r, p) are refused
//! as unknown, like any other.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::cursor::Cursor;
use super::{DecodeError, Decoder};
use crate::stream::change::{
    Change, Column, OldTuple, RelId, Relation, ReplicaIdentity, Tuple, Value,
};
use crate::stream::lsn::Lsn;

/// Bit of a Relation message's column flags: part of the replica identity.
const COLUMN_IS_KEY: u8 = 1;
/// Bits of a Truncate message's options.
const TRUNCATE_CASCADE: u8 = 1;
const TRUNCATE_RESTART_IDENTITY: u8 = 2;
/// Bit of a Message message's flags.
const MESSAGE_TRANSACTIONAL: u8 = 1;

/// A type the stream described with a Type message (sent before the first
/// Relation using a non-built-in type): its schema and name on the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    pub schema: String,
    pub name: String,
}

/// Decodes one pgoutput stream; remembers the relations and types it was
/// told about, since changes refer to them by OID.
#[derive(Debug, Default)]
pub struct PgoutputDecoder {
    relations: HashMap<RelId, Arc<Relation>>,
    types: HashMap<u32, TypeName>,
}

impl PgoutputDecoder {
    pub fn new() -> PgoutputDecoder {
        PgoutputDecoder::default()
    }

    /// The schema-qualified name of a non-built-in type the stream described.
    pub fn type_name(&self, oid: u32) -> Option<&TypeName> {
        self.types.get(&oid)
    }

    fn message(
        &mut self,
        c: &mut Cursor<'_>,
        values: Values<'_>,
        out: &mut Vec<Change>,
    ) -> Result<(), String> {
        let tag = c.u8("the message type")?;
        match tag {
            b'B' => {
                let final_lsn = Lsn(c.u64("the final LSN")?);
                let commit_time = c.i64("the commit time")?;
                let xid = c.u32("the transaction id")?;
                out.push(Change::Begin {
                    xid,
                    final_lsn: Some(final_lsn),
                    commit_time: Some(commit_time),
                });
            }
            b'C' => {
                let _flags = c.u8("the commit flags")?;
                let commit_lsn = Lsn(c.u64("the commit LSN")?);
                let end_lsn = Lsn(c.u64("the end LSN")?);
                let commit_time = c.i64("the commit time")?;
                out.push(Change::Commit {
                    commit_lsn: Some(commit_lsn),
                    end_lsn,
                    commit_time: Some(commit_time),
                });
            }
            // Origin of the transaction's changes: the follower applies
            // everything the slot sends, wherever it came from.
            b'O' => {
                c.u64("the origin LSN")?;
                c.cstr("the origin name")?;
            }
            b'R' => {
                let relation = Arc::new(relation(c)?);
                self.relations.insert(relation.id, Arc::clone(&relation));
                out.push(Change::Relation(relation));
            }
            b'Y' => {
                let oid = c.u32("the type OID")?;
                let schema = c.cstr("the type's schema")?;
                let name = c.cstr("the type's name")?;
                self.types.insert(oid, TypeName { schema, name });
            }
            b'I' => {
                let relation = self.relation(c)?;
                expect_tag(c, b'N', "the new tuple")?;
                let new = tuple(c, &relation, values)?;
                out.push(Change::Insert {
                    relation: relation.id,
                    new,
                });
            }
            b'U' => {
                let relation = self.relation(c)?;
                let old = match c.u8("the tuple kind")? {
                    b'N' => None,
                    kind @ (b'K' | b'O') => {
                        let old = old_tuple(kind, tuple(c, &relation, values)?);
                        expect_tag(c, b'N', "the new tuple")?;
                        Some(old)
                    }
                    other => return Err(unexpected_tag(other, "K, O or N")),
                };
                let new = tuple(c, &relation, values)?;
                out.push(Change::Update {
                    relation: relation.id,
                    old,
                    new,
                });
            }
            b'D' => {
                let relation = self.relation(c)?;
                let old = match c.u8("the tuple kind")? {
                    kind @ (b'K' | b'O') => old_tuple(kind, tuple(c, &relation, values)?),
                    other => return Err(unexpected_tag(other, "K or O")),
                };
                out.push(Change::Delete {
                    relation: relation.id,
                    old,
                });
            }
            b'T' => {
                let count = c.i32("the number of relations")?;
                let count = usize::try_from(count)
                    .map_err(|_| format!("negative number of truncated relations {count}"))?;
                let options = c.u8("the truncate options")?;
                // Each id is 4 bytes: refuse a count the message cannot hold
                // before allocating for it.
                if count > c.remaining() / 4 {
                    return Err(format!(
                        "{count} truncated relations announced, {} bytes left",
                        c.remaining()
                    ));
                }
                let mut relations = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = c.u32("a truncated relation id")?;
                    self.known(id)?;
                    relations.push(id);
                }
                out.push(Change::Truncate {
                    relations,
                    cascade: options & TRUNCATE_CASCADE != 0,
                    restart_identity: options & TRUNCATE_RESTART_IDENTITY != 0,
                });
            }
            b'M' => {
                let flags = c.u8("the message flags")?;
                let _lsn = c.u64("the message LSN")?;
                let prefix = c.cstr("the message prefix")?;
                let content = Bytes::copy_from_slice(c.sized("the message content")?);
                out.push(Change::Message {
                    transactional: flags & MESSAGE_TRANSACTIONAL != 0,
                    prefix,
                    content,
                });
            }
            other => {
                return Err(format!(
                    "unknown message type {} (protocol version 1 has B, C, O, R, Y, I, U, D, T, M)",
                    describe_tag(other)
                ))
            }
        }
        if !c.is_empty() {
            return Err(format!(
                "{} unexpected bytes after a complete {} message",
                c.remaining(),
                describe_tag(tag)
            ));
        }
        Ok(())
    }

    fn known(&self, id: RelId) -> Result<&Arc<Relation>, String> {
        self.relations.get(&id).ok_or_else(|| {
            format!("a change refers to relation {id}, which no Relation message described")
        })
    }

    fn relation(&self, c: &mut Cursor<'_>) -> Result<Arc<Relation>, String> {
        let id = c.u32("the relation id")?;
        self.known(id).cloned()
    }
}

impl PgoutputDecoder {
    fn decode_with(
        &mut self,
        lsn: Lsn,
        data: &[u8],
        values: Values<'_>,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        // Nothing of a failed message reaches `out`.
        let start = out.len();
        let mut cursor = Cursor::new(data);
        self.message(&mut cursor, values, out).map_err(|reason| {
            out.truncate(start);
            DecodeError {
                plugin: "pgoutput",
                lsn,
                reason,
            }
        })
    }
}

impl Decoder for PgoutputDecoder {
    fn decode(&mut self, lsn: Lsn, data: &[u8], out: &mut Vec<Change>) -> Result<(), DecodeError> {
        self.decode_with(lsn, data, Values(None), out)
    }

    fn decode_shared(
        &mut self,
        lsn: Lsn,
        data: &Bytes,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        self.decode_with(lsn, data, Values(Some(data)), out)
    }
}

fn relation(c: &mut Cursor<'_>) -> Result<Relation, String> {
    let id = c.u32("the relation id")?;
    let schema = c.cstr("the relation's schema")?;
    let name = c.cstr("the relation's name")?;
    let replica_identity = match c.u8("the replica identity")? {
        b'd' => ReplicaIdentity::Default,
        b'n' => ReplicaIdentity::Nothing,
        b'f' => ReplicaIdentity::Full,
        b'i' => ReplicaIdentity::Index,
        other => {
            return Err(format!(
                "unknown replica identity {} for {schema}.{name}",
                describe_tag(other)
            ))
        }
    };
    let count = c.i16("the number of columns")?;
    let count = usize::try_from(count)
        .map_err(|_| format!("negative number of columns {count} for {schema}.{name}"))?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        let flags = c.u8("the column flags")?;
        let name = c.cstr("the column name")?;
        let type_oid = c.u32("the column type")?;
        let type_modifier = c.i32("the column type modifier")?;
        columns.push(Column {
            name,
            type_oid,
            type_modifier,
            is_key: flags & COLUMN_IS_KEY != 0,
        });
    }
    Ok(Relation {
        id,
        schema,
        name,
        replica_identity,
        columns,
    })
}

/// Where a tuple's values come from: views of the whole message when it is
/// shared (`Bytes`), else copies.
#[derive(Clone, Copy)]
struct Values<'a>(Option<&'a Bytes>);

impl Values<'_> {
    fn value(self, bytes: &[u8]) -> Bytes {
        match self.0 {
            Some(message) => message.slice_ref(bytes),
            None => Bytes::copy_from_slice(bytes),
        }
    }
}

/// TupleData: one value per column of the relation, each `n` (NULL), `u`
/// (unchanged TOASTed value), `t` (text) or `b` (binary).
fn tuple(c: &mut Cursor<'_>, relation: &Relation, source: Values<'_>) -> Result<Tuple, String> {
    let count = c.i16("the number of values")?;
    if usize::try_from(count).ok() != Some(relation.columns.len()) {
        return Err(format!(
            "a tuple of {count} values for {}.{}, which has {} columns",
            relation.schema,
            relation.name,
            relation.columns.len()
        ));
    }
    let mut values = Vec::with_capacity(relation.columns.len());
    for column in &relation.columns {
        // The column's name goes into the error only: no allocation per value.
        let named = |e: String| format!("{e} (column {})", column.name);
        let value = match c.u8("a value").map_err(named)? {
            b'n' => Value::Null,
            b'u' => Value::Unchanged,
            b't' => Value::Text(source.value(c.sized("a value").map_err(named)?)),
            b'b' => Value::Binary(source.value(c.sized("a value").map_err(named)?)),
            other => {
                return Err(format!(
                    "unknown value kind {} for column {} (n, u, t or b expected)",
                    describe_tag(other),
                    column.name
                ))
            }
        };
        values.push(value);
    }
    Ok(values)
}

fn old_tuple(kind: u8, values: Tuple) -> OldTuple {
    if kind == b'O' {
        OldTuple::Full(values)
    } else {
        OldTuple::Key(values)
    }
}

fn expect_tag(c: &mut Cursor<'_>, want: u8, what: &str) -> Result<(), String> {
    let got = c.u8(what)?;
    if got == want {
        Ok(())
    } else {
        Err(unexpected_tag(got, &describe_tag(want)))
    }
}

fn unexpected_tag(got: u8, expected: &str) -> String {
    format!(
        "unexpected {} where {expected} was expected",
        describe_tag(got)
    )
}

fn describe_tag(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", char::from(tag))
    } else {
        format!("byte 0x{tag:02x}")
    }
}

#[cfg(test)]
#[path = "pgoutput_tests.rs"]
mod tests;
