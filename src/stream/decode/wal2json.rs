//! wal2json, `format-version '2'`: one JSON object per message, with an
//! `action` of B (begin), C (commit), I, U, D, T (truncate, one object per
//! table) or M (logical message).
//!
//! Options the follower sends (see [`super::options`]): `format-version
//! '2'`, `include-xids '1'`, `include-timestamp '1'`, `include-lsn '1'` (B
//! and C carry the commit record's LSN), `include-pk '1'` (checked against
//! the catalog), `include-type-oids '1'` (the decoder picks the value rules
//! by type OID) and, with `--wal2json-numeric-as-string`,
//! `numeric-data-types-as-string '1'` (wal2json 2.6 and later only; 2.5
//! refuses the option at START_REPLICATION). `include-transaction` stays at
//! its default (on): the C object ends a run of T objects.
//!
//! Values come out as PostgreSQL's text representation:
//! - strings are the output function's text, except bytea, whose leading
//!   `\x` wal2json cuts off (put back here; a domain over bytea keeps it);
//! - integers, oid, floats and numeric are JSON numbers written as the
//!   output function wrote them (kept as written, never parsed: `12.50`
//!   stays `12.50`, `9007199254740993` is not rounded);
//! - booleans are JSON `true`/`false`, turned back into `t`/`f`;
//! - json and jsonb are JSON strings holding their text.
//!
//! What wal2json cannot say:
//! - NaN, Infinity and -Infinity of real, double precision and numeric are
//!   written as JSON `null` unless `numeric-data-types-as-string` is on, so
//!   a `null` there may be NULL or any of them. The decoder refuses such a
//!   value (naming the table and column, and the way out: wal2json 2.6 with
//!   `--wal2json-numeric-as-string`, or pgoutput) rather than guess.
//! - Keys: `pk` names the primary key only; the replica identity (FULL,
//!   USING INDEX) and its columns come from [`SourceTables`]. An UPDATE's
//!   `identity` is always there (taken from the new row when the key did
//!   not change), so the old key is kept only when it differs from the new
//!   row's, as pgoutput and test_decoding only send it then.
//! - TRUNCATE's CASCADE and RESTART IDENTITY flags are not written: the
//!   objects of one statement (same LSN) become one [`Change::Truncate`]
//!   with both flags false.
//! - Unchanged TOASTed columns are left out of an UPDATE's `columns`: a
//!   column of the relation missing there is [`Value::Unchanged`].
//! - Message contents are written as C strings: a content with a NUL byte
//!   is cut there, and one that is not valid UTF-8 cannot be faithful.
//! - An UPDATE or DELETE on a table without replica identity (NOTHING, or
//!   DEFAULT without a primary key) is not written at all: the server only
//!   logs a WARNING. The stream cannot show the gap; the follower must
//!   refuse such tables up front ([`SourceTables::without_identity`]).

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::tables::SourceTables;
use super::text_relations::{Printed, TextRelations};
use super::timestamp::parse_timestamptz;
use super::{view_or_copy, DecodeError, Decoder};
use crate::stream::change::{Change, OldTuple, RelId, Relation, ReplicaIdentity, Value};
use crate::stream::lsn::Lsn;

const BOOL_OID: u32 = 16;
const BYTEA_OID: u32 = 17;
const FLOAT4_OID: u32 = 700;
const FLOAT8_OID: u32 = 701;
const NUMERIC_OID: u32 = 1700;

#[derive(Deserialize)]
struct Message<'a> {
    action: String,
    #[serde(default)]
    xid: Option<u32>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    lsn: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default, borrow)]
    columns: Option<Vec<JsonColumn<'a>>>,
    #[serde(default, borrow)]
    identity: Option<Vec<JsonColumn<'a>>>,
    #[serde(default)]
    pk: Option<Vec<PkColumn>>,
    #[serde(default)]
    transactional: Option<bool>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct JsonColumn<'a> {
    name: String,
    #[serde(rename = "type", default)]
    type_name: Option<String>,
    #[serde(default)]
    typeoid: Option<u32>,
    /// As written; JSON `null` is `None`.
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PkColumn {
    name: String,
}

pub struct Wal2jsonDecoder {
    relations: TextRelations,
    numeric_as_string: bool,
    /// The tables of a TRUNCATE so far: wal2json writes one object per
    /// table, all at the statement's LSN.
    pending_truncate: Option<(Lsn, Vec<RelId>)>,
    /// The message being decoded, when held in `Bytes`: a string value
    /// without escapes is then a view of it, not a copy.
    shared: Option<Bytes>,
}

impl Wal2jsonDecoder {
    /// `numeric_as_string`: the slot is read with
    /// `numeric-data-types-as-string '1'`.
    pub fn new(tables: Arc<SourceTables>, numeric_as_string: bool) -> Wal2jsonDecoder {
        Wal2jsonDecoder {
            shared: None,
            relations: TextRelations::new(tables),
            numeric_as_string,
            pending_truncate: None,
        }
    }

    fn flush_truncate(&mut self, out: &mut Vec<Change>) {
        if let Some((_, relations)) = self.pending_truncate.take() {
            out.push(Change::Truncate {
                relations,
                cascade: false,
                restart_identity: false,
            });
        }
    }

    fn message(&mut self, lsn: Lsn, m: Message<'_>, out: &mut Vec<Change>) -> Result<(), String> {
        match m.action.as_str() {
            "B" => out.push(Change::Begin {
                xid: m
                    .xid
                    .ok_or("a begin without xid: the slot must be read with include-xids '1'")?,
                final_lsn: parse_lsn(m.lsn.as_deref())?,
                commit_time: parse_time(m.timestamp.as_deref())?,
            }),
            // The LSN of the C message is the end of the commit record
            // (wal2json's `nextlsn`): see test_decoding's COMMIT.
            "C" => out.push(Change::Commit {
                commit_lsn: parse_lsn(m.lsn.as_deref())?,
                end_lsn: lsn,
                commit_time: parse_time(m.timestamp.as_deref())?,
            }),
            "M" => out.push(Change::Message {
                transactional: m
                    .transactional
                    .ok_or("a message without \"transactional\"")?,
                prefix: m.prefix.ok_or("a message without \"prefix\"")?,
                content: Bytes::from(m.content.ok_or("a message without \"content\"")?),
            }),
            "T" => {
                let (schema, table) = names(&m)?;
                let id = self.relations.relation(schema, table, out)?.id;
                match &mut self.pending_truncate {
                    Some((at, relations)) if *at == lsn => relations.push(id),
                    _ => self.pending_truncate = Some((lsn, vec![id])),
                }
            }
            "I" => {
                let (schema, table) = names(&m)?;
                let new = self.printed(&m, m.columns.as_deref().unwrap_or_default())?;
                let relation = self
                    .relations
                    .relation_for_columns(schema, table, &new, out)?;
                check_pk(&relation, m.pk.as_deref())?;
                let new = self.relations.tuple(&relation, new, &Value::Null)?;
                out.push(Change::Insert {
                    relation: relation.id,
                    new,
                });
            }
            "U" => {
                let (schema, table) = names(&m)?;
                let new = self.printed(&m, m.columns.as_deref().unwrap_or_default())?;
                let relation = self
                    .relations
                    .relation_for_some_columns(schema, table, &new, out)?;
                check_pk(&relation, m.pk.as_deref())?;
                let new = self.relations.tuple(&relation, new, &Value::Unchanged)?;
                let old = match &m.identity {
                    None => None,
                    Some(identity) => {
                        let old = self.printed(&m, identity)?;
                        let old = self.relations.tuple(&relation, old, &Value::Null)?;
                        if relation.replica_identity == ReplicaIdentity::Full {
                            Some(OldTuple::Full(old))
                        } else if key_equal(&relation, &old, &new) {
                            None
                        } else {
                            Some(OldTuple::Key(old))
                        }
                    }
                };
                out.push(Change::Update {
                    relation: relation.id,
                    old,
                    new,
                });
            }
            "D" => {
                let (schema, table) = names(&m)?;
                let relation = self.relations.relation(schema, table, out)?;
                check_pk(&relation, m.pk.as_deref())?;
                let old = self.printed(&m, m.identity.as_deref().unwrap_or_default())?;
                let old = self.relations.tuple(&relation, old, &Value::Null)?;
                out.push(Change::Delete {
                    relation: relation.id,
                    old: if relation.replica_identity == ReplicaIdentity::Full {
                        OldTuple::Full(old)
                    } else {
                        OldTuple::Key(old)
                    },
                });
            }
            other => {
                return Err(format!(
                    "unknown action {other:?} (format-version 2 has B, C, I, U, D, T, M)"
                ))
            }
        }
        Ok(())
    }

    fn printed(&self, m: &Message<'_>, columns: &[JsonColumn<'_>]) -> Result<Vec<Printed>, String> {
        columns
            .iter()
            .map(|c| {
                Ok(Printed {
                    name: c.name.clone(),
                    type_oid: c.typeoid,
                    value: self.value(m, c)?,
                })
            })
            .collect()
    }

    /// The column's value in PostgreSQL's text representation.
    fn value(&self, m: &Message<'_>, c: &JsonColumn<'_>) -> Result<Value, String> {
        let is = |oid: u32, name: &str| match (c.typeoid, c.type_name.as_deref()) {
            (Some(typeoid), _) => typeoid == oid,
            (None, Some(t)) => {
                t == name || t.strip_prefix(name).is_some_and(|r| r.starts_with('('))
            }
            (None, None) => false,
        };
        let Some(raw) = c.value else {
            let special_as_null = is(FLOAT4_OID, "real")
                || is(FLOAT8_OID, "double precision")
                || is(NUMERIC_OID, "numeric");
            if special_as_null && !self.numeric_as_string {
                return Err(format!(
                    "column {} of {}.{} is null, which wal2json also writes for NaN and \
                     Infinity unless numeric-data-types-as-string is on: the value cannot be \
                     told; use --wal2json-numeric-as-string (wal2json 2.6 or later) or \
                     --plugin pgoutput",
                    c.name,
                    m.schema.as_deref().unwrap_or_default(),
                    m.table.as_deref().unwrap_or_default()
                ));
            }
            return Ok(Value::Null);
        };
        let raw = raw.get();
        let plain = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .filter(|inner| !inner.contains('\\') && !is(BYTEA_OID, "bytea"));
        if let Some(inner) = plain {
            return Ok(Value::Text(view_or_copy(
                self.shared.as_ref(),
                inner.as_bytes(),
            )));
        }
        let text = if raw.starts_with('"') {
            let text: String = serde_json::from_str(raw)
                .map_err(|e| format!("the value of column {}: {e}", c.name))?;
            if is(BYTEA_OID, "bytea") {
                format!("\\x{text}")
            } else {
                text
            }
        } else if raw == "true" && is(BOOL_OID, "boolean") {
            "t".to_string()
        } else if raw == "false" && is(BOOL_OID, "boolean") {
            "f".to_string()
        } else if raw.starts_with(|ch: char| ch == '-' || ch.is_ascii_digit()) {
            raw.to_string()
        } else {
            return Err(format!(
                "unexpected JSON value {raw} for column {} of type {}",
                c.name,
                c.type_name.as_deref().unwrap_or("?")
            ));
        };
        Ok(Value::Text(Bytes::from(text)))
    }
}

impl Decoder for Wal2jsonDecoder {
    fn decode_shared(
        &mut self,
        lsn: Lsn,
        data: &Bytes,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        self.shared = Some(data.clone());
        let decoded = self.decode(lsn, data, out);
        self.shared = None;
        decoded
    }

    fn decode(&mut self, lsn: Lsn, data: &[u8], out: &mut Vec<Change>) -> Result<(), DecodeError> {
        let error = |reason: String| DecodeError {
            plugin: "wal2json",
            lsn,
            reason,
        };
        let message: Message<'_> = serde_json::from_slice(data)
            .map_err(|e| error(format!("not a format-version 2 object: {e}")))?;
        let continues_truncate = message.action == "T"
            && self
                .pending_truncate
                .as_ref()
                .is_some_and(|(at, _)| *at == lsn);
        if !continues_truncate {
            self.flush_truncate(out);
        }
        let start = out.len();
        self.message(lsn, message, out).map_err(|reason| {
            // Nothing of a failed message reaches `out`, so relations it
            // described must be described again.
            out.truncate(start);
            self.relations.forget();
            error(reason)
        })
    }
}

fn names<'m>(m: &'m Message<'_>) -> Result<(&'m str, &'m str), String> {
    match (m.schema.as_deref(), m.table.as_deref()) {
        (Some(schema), Some(table)) => Ok((schema, table)),
        _ => Err(format!("a {} without \"schema\" and \"table\"", m.action)),
    }
}

fn parse_lsn(text: Option<&str>) -> Result<Option<Lsn>, String> {
    text.map(|t| t.parse().map_err(|e| format!("{e}")))
        .transpose()
}

fn parse_time(text: Option<&str>) -> Result<Option<i64>, String> {
    text.map(|t| parse_timestamptz(t).ok_or_else(|| format!("{t:?} is not a timestamp")))
        .transpose()
}

/// Whether the old key (the identity wal2json always writes) is the new
/// row's: then the key did not change and pgoutput sends no old tuple.
fn key_equal(relation: &Relation, old: &[Value], new: &[Value]) -> bool {
    relation
        .columns
        .iter()
        .zip(old.iter().zip(new))
        .filter(|(c, _)| c.is_key)
        .all(|(_, (o, n))| o == n)
}

/// Under DEFAULT identity the catalog's key is the primary key wal2json
/// names: a difference means the key changed since the catalog was read.
fn check_pk(relation: &Relation, pk: Option<&[PkColumn]>) -> Result<(), String> {
    let Some(pk) = pk else { return Ok(()) };
    if relation.replica_identity != ReplicaIdentity::Default {
        return Ok(());
    }
    let mut said: Vec<&str> = pk.iter().map(|c| c.name.as_str()).collect();
    let mut known: Vec<&str> = relation
        .columns
        .iter()
        .filter(|c| c.is_key)
        .map(|c| c.name.as_str())
        .collect();
    said.sort_unstable();
    known.sort_unstable();
    if said == known {
        Ok(())
    } else {
        Err(format!(
            "the primary key of {}.{} is ({}), not ({}) as when the stream started: restart \
             the follower to read the catalog again",
            relation.schema,
            relation.name,
            said.join(", "),
            known.join(", ")
        ))
    }
}

#[cfg(test)]
#[path = "wal2json_tests.rs"]
mod tests;
