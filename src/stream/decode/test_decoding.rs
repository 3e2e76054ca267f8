//! `test_decoding`: the text lines of PostgreSQL's contrib example plugin
//! (contrib/test_decoding/test_decoding.c), one per XLogData message.
//!
//! Options the follower sends (see [`super::options`]): `include-xids '1'`
//! (BEGIN and COMMIT carry the transaction id, which [`Change::Begin`]
//! needs), `include-timestamp '1'` (COMMIT carries the commit time) and
//! `skip-empty-xacts '1'` (no BEGIN/COMMIT pair for transactions without a
//! change of this database, as pgoutput since PostgreSQL 15). Left at their
//! defaults: `include-rewrites` (off: no changes of table rewrites),
//! `stream-changes` (off: whole transactions at commit), `only-local`.
//!
//! The lines:
//! - `BEGIN 734` and `COMMIT 734 (at 2026-12-04 19:16:05.623962+00)`.
//! - `table public.pk: INSERT: id[integer]:1 t[text]:'it''s'` — names are
//!   `quote_identifier`ed (`"My Tab""x"`, `"Col 1"`), the type in brackets is
//!   `format_type_be` (may itself be quoted or end in `[]`); values are
//!   `null`, `unchanged-toast-datum`, bare for integers, oid, floats and
//!   numeric (`NaN`, `Infinity` included), `true`/`false` for boolean (turned
//!   back into `t`/`f`), `B'0101'` for bit strings, and otherwise the text
//!   form in single quotes with quotes doubled (newlines, tabs and
//!   backslashes as they are).
//! - `UPDATE:` with ` old-key: ... new-tuple: ...` when the old key was
//!   logged (key changed, or REPLICA IDENTITY FULL); NULLs of the old tuple
//!   are left out. `DELETE:` lists the old key, or `(no-tuple-data)` for a
//!   table without a replica identity.
//! - `table a.b, c.d: TRUNCATE: restart_seqs cascade` or `(no-flags)`.
//! - `message: transactional: 1 prefix: p, sz: 12 content:hello, world`
//!   (the prefix is not quoted: the content's size, at the end, finds it).
//!
//! What test_decoding cannot say, and where the decoder gets it instead:
//! which columns form the key of an INSERT or UPDATE, the replica identity
//! and the type OIDs (from [`SourceTables`]); the commit record's LSN (not
//! printed: `commit_lsn` is `None`). Under `skip-empty-xacts`, a
//! transaction whose only content is a transactional message has no
//! BEGIN/COMMIT (the message callback does not open one), and a message
//! written before the transaction's first change comes before its BEGIN.

use std::sync::Arc;

use bytes::Bytes;

use super::tables::SourceTables;
use super::text_relations::{Printed, TextRelations};
use super::timestamp::parse_timestamptz;
use super::{view_or_copy, DecodeError, Decoder};
use crate::stream::change::{Change, OldTuple, ReplicaIdentity, Value};
use crate::stream::lsn::Lsn;

pub struct TestDecodingDecoder {
    relations: TextRelations,
}

impl TestDecodingDecoder {
    pub fn new(tables: Arc<SourceTables>) -> TestDecodingDecoder {
        TestDecodingDecoder {
            relations: TextRelations::new(tables),
        }
    }

    /// `shared`: the line held in `Bytes`, its values then views of it.
    fn line(
        &mut self,
        lsn: Lsn,
        data: &[u8],
        shared: Option<&Bytes>,
        out: &mut Vec<Change>,
    ) -> Result<(), String> {
        let mut p = Parser { rest: data, shared };
        if p.eat(b"BEGIN") {
            let xid = match p.eat(b" ") {
                true => p.number("the transaction id")?,
                false => {
                    return Err(
                        "BEGIN without a transaction id: the slot must be read with \
                                include-xids '1'"
                            .into(),
                    )
                }
            };
            p.end()?;
            out.push(Change::Begin {
                xid,
                final_lsn: None,
                commit_time: None,
            });
        } else if p.eat(b"COMMIT") {
            if p.rest.first().is_some_and(|&b| b == b' ') && !p.rest.starts_with(b" (at ") {
                p.eat(b" ");
                p.number("the transaction id")?;
            }
            let commit_time = if p.eat(b" (at ") {
                let text = p.until(b')', "the commit time")?;
                Some(parse_timestamptz(&text).ok_or_else(|| {
                    format!("commit time {text:?} is not a timestamp with time zone")
                })?)
            } else {
                None
            };
            p.end()?;
            // The LSN of a COMMIT line's message is the end of the commit
            // record (the decoding context's write_location is set to
            // txn->end_lsn for the commit callback): the position a restart
            // asks the slot for, and the one the applier's replication
            // origin records with the transaction, so a transaction is
            // skipped exactly when its end is at or below the origin.
            out.push(Change::Commit {
                commit_lsn: None,
                end_lsn: lsn,
                commit_time,
            });
        } else if p.eat(b"table ") {
            self.change(&mut p, out)?;
        } else if p.eat(b"message: transactional: ") {
            out.push(message(&mut p)?);
        } else {
            return Err(format!("unrecognised line {}", preview(data)));
        }
        Ok(())
    }

    fn change(&mut self, p: &mut Parser<'_>, out: &mut Vec<Change>) -> Result<(), String> {
        let mut names = vec![p.qualified_name()?];
        while p.eat(b", ") {
            names.push(p.qualified_name()?);
        }
        p.expect(b": ")?;
        let action = p.until(b':', "the action")?;
        if action != "TRUNCATE" {
            if let [_, extra, ..] = names.as_slice() {
                return Err(format!(
                    "{action} of several tables (second: {}.{})",
                    extra.0, extra.1
                ));
            }
        }
        let Some((schema, name)) = names.first().cloned() else {
            return Err("a change without a table".into());
        };
        match action.as_str() {
            "INSERT" => {
                if p.eat(b" (no-tuple-data)") {
                    return Err(format!("INSERT into {schema}.{name} without its row"));
                }
                let new = p.columns()?;
                p.end()?;
                let relation = self
                    .relations
                    .relation_for_columns(&schema, &name, &new, out)?;
                let new = self.relations.tuple(&relation, new, &Value::Null)?;
                out.push(Change::Insert {
                    relation: relation.id,
                    new,
                });
            }
            "UPDATE" => {
                let old = if p.eat(b" old-key:") {
                    let old = p.columns()?;
                    p.expect(b" new-tuple:")?;
                    Some(old)
                } else {
                    None
                };
                if p.eat(b" (no-tuple-data)") {
                    return Err(format!("UPDATE of {schema}.{name} without its new row"));
                }
                let new = p.columns()?;
                p.end()?;
                let relation = self
                    .relations
                    .relation_for_columns(&schema, &name, &new, out)?;
                let new = self.relations.tuple(&relation, new, &Value::Null)?;
                let old = match old {
                    Some(old) => Some(old_tuple(
                        relation.replica_identity,
                        self.relations.tuple(&relation, old, &Value::Null)?,
                    )),
                    None => None,
                };
                out.push(Change::Update {
                    relation: relation.id,
                    old,
                    new,
                });
            }
            "DELETE" => {
                let old = if p.eat(b" (no-tuple-data)") {
                    Vec::new()
                } else {
                    p.columns()?
                };
                p.end()?;
                let relation = self.relations.relation(&schema, &name, out)?;
                let old = self.relations.tuple(&relation, old, &Value::Null)?;
                out.push(Change::Delete {
                    relation: relation.id,
                    old: old_tuple(relation.replica_identity, old),
                });
            }
            "TRUNCATE" => {
                let (mut cascade, mut restart_identity) = (false, false);
                if !p.eat(b" (no-flags)") {
                    while !p.rest.is_empty() {
                        if p.eat(b" restart_seqs") {
                            restart_identity = true;
                        } else if p.eat(b" cascade") {
                            cascade = true;
                        } else {
                            return Err(format!("unknown TRUNCATE flags {}", preview(p.rest)));
                        }
                    }
                }
                p.end()?;
                let mut relations = Vec::with_capacity(names.len());
                for (schema, name) in &names {
                    relations.push(self.relations.relation(schema, name, out)?.id);
                }
                out.push(Change::Truncate {
                    relations,
                    cascade,
                    restart_identity,
                });
            }
            other => return Err(format!("unknown action {other:?} on {schema}.{name}")),
        }
        Ok(())
    }
}

impl Decoder for TestDecodingDecoder {
    fn decode(&mut self, lsn: Lsn, data: &[u8], out: &mut Vec<Change>) -> Result<(), DecodeError> {
        self.decode_line(lsn, data, None, out)
    }

    fn decode_shared(
        &mut self,
        lsn: Lsn,
        data: &Bytes,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        self.decode_line(lsn, data, Some(data), out)
    }
}

impl TestDecodingDecoder {
    fn decode_line(
        &mut self,
        lsn: Lsn,
        data: &[u8],
        shared: Option<&Bytes>,
        out: &mut Vec<Change>,
    ) -> Result<(), DecodeError> {
        let start = out.len();
        self.line(lsn, data, shared, out).map_err(|reason| {
            // Nothing of a failed line reaches `out`, so relations it
            // described must be described again.
            out.truncate(start);
            self.relations.forget();
            DecodeError {
                plugin: "test_decoding",
                lsn,
                reason,
            }
        })
    }
}

/// Under FULL the old row is whole; otherwise it is the key.
fn old_tuple(identity: ReplicaIdentity, values: Vec<Value>) -> OldTuple {
    if identity == ReplicaIdentity::Full {
        OldTuple::Full(values)
    } else {
        OldTuple::Key(values)
    }
}

/// `1 prefix: <prefix>, sz: <n> content:<n bytes>`: the prefix may contain
/// `, sz: ` itself, so the split is the one whose size matches what is left.
fn message(p: &mut Parser<'_>) -> Result<Change, String> {
    let transactional = match p.rest.first() {
        Some(b'1') => true,
        Some(b'0') => false,
        _ => return Err(format!("bad message line {}", preview(p.rest))),
    };
    p.rest = p.rest.get(1..).unwrap_or_default();
    p.expect(b" prefix: ")?;
    let rest = p.rest;
    let marker = b", sz: ";
    for at in 0..rest.len() {
        let Some(tail) = rest.get(at..) else { break };
        let Some(after) = tail.strip_prefix(marker.as_slice()) else {
            continue;
        };
        let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        let (size, after) = after.split_at(digits);
        let Some(content) = after.strip_prefix(b" content:".as_slice()) else {
            continue;
        };
        let size: Option<usize> = std::str::from_utf8(size).ok().and_then(|s| s.parse().ok());
        if size == Some(content.len()) {
            let prefix = rest.get(..at).unwrap_or_default();
            return Ok(Change::Message {
                transactional,
                prefix: String::from_utf8(prefix.to_vec())
                    .map_err(|_| "the message prefix is not valid UTF-8".to_string())?,
                content: Bytes::copy_from_slice(content),
            });
        }
    }
    Err(format!(
        "message line {} has no size matching its content",
        preview(rest)
    ))
}

fn preview(data: &[u8]) -> String {
    let cut = data.get(..80).unwrap_or(data);
    let more = if cut.len() < data.len() { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(cut))
}

/// Reads one line from the front.
struct Parser<'a> {
    rest: &'a [u8],
    /// What `rest` is a part of, when held in `Bytes`: values are views of
    /// it instead of copies (a large value is then held once).
    shared: Option<&'a Bytes>,
}

impl<'a> Parser<'a> {
    fn eat(&mut self, prefix: &[u8]) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, prefix: &[u8]) -> Result<(), String> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at {}",
                String::from_utf8_lossy(prefix),
                preview(self.rest)
            ))
        }
    }

    fn end(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "unexpected text at the end: {}",
                preview(self.rest)
            ))
        }
    }

    /// Everything up to `stop` (consumed), as text.
    fn until(&mut self, stop: u8, what: &str) -> Result<String, String> {
        let at = self
            .rest
            .iter()
            .position(|&b| b == stop)
            .ok_or_else(|| format!("the line ends inside {what}"))?;
        let (text, rest) = self.rest.split_at(at);
        self.rest = rest.get(1..).unwrap_or_default();
        String::from_utf8(text.to_vec()).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    fn number(&mut self, what: &str) -> Result<u32, String> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (text, rest) = self.rest.split_at(digits);
        let value = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("{what} is not a number: {}", preview(self.rest)))?;
        self.rest = rest;
        Ok(value)
    }

    /// The text between `quote` at the head of the rest and its closing
    /// match, a doubled quote standing for one (test_decoding quotes names
    /// and values alike); the rest moves past the closing quote.
    /// A single-quoted value without a doubled quote in it: its text as it
    /// stands (consumed); None otherwise (nothing consumed).
    fn plain_quoted(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest;
        let body = rest.get(1..)?;
        let end = body.iter().position(|b| *b == b'\'')?;
        if body.get(end + 1) == Some(&b'\'') {
            return None;
        }
        self.rest = body.get(end + 1..).unwrap_or_default();
        body.get(..end)
    }

    fn quoted(&mut self, quote: u8, what: &str) -> Result<Vec<u8>, String> {
        let mut text = Vec::new();
        let mut i = 1;
        loop {
            match (self.rest.get(i), self.rest.get(i + 1)) {
                (Some(&a), Some(&b)) if a == quote && b == quote => {
                    text.push(quote);
                    i += 2;
                }
                (Some(&a), _) if a == quote => break,
                (Some(&b), _) => {
                    text.push(b);
                    i += 1;
                }
                (None, _) => return Err(format!("the line ends inside a quoted {what}")),
            }
        }
        self.rest = self.rest.get(i + 1..).unwrap_or_default();
        Ok(text)
    }

    /// A `quote_identifier`ed name: bare (lower case, digits, `_`) or in
    /// double quotes with quotes doubled.
    fn identifier(&mut self) -> Result<String, String> {
        let raw = if self.rest.first() == Some(&b'"') {
            self.quoted(b'"', "name")?
        } else {
            let len = self
                .rest
                .iter()
                .take_while(|b| !matches!(b, b'.' | b':' | b',' | b' ' | b'[' | b'"'))
                .count();
            let (name, rest) = self.rest.split_at(len);
            self.rest = rest;
            name.to_vec()
        };
        if raw.is_empty() {
            return Err(format!("expected a name at {}", preview(self.rest)));
        }
        String::from_utf8(raw).map_err(|_| "a name is not valid UTF-8".to_string())
    }

    fn qualified_name(&mut self) -> Result<(String, String), String> {
        let schema = self.identifier()?;
        self.expect(b".")?;
        Ok((schema, self.identifier()?))
    }

    /// ` name[type]:value` repeated, up to the end or ` new-tuple:`.
    fn columns(&mut self) -> Result<Vec<Printed>, String> {
        let mut columns = Vec::new();
        while !self.rest.is_empty() && !self.rest.starts_with(b" new-tuple:") {
            self.expect(b" ")?;
            let name = self.identifier()?;
            self.expect(b"[")?;
            self.skip_type()?;
            self.expect(b":")?;
            let value = self.value()?;
            columns.push(Printed {
                name,
                type_oid: None,
                value,
            });
        }
        Ok(columns)
    }

    /// The type name after `[`, up to its matching `]`: it may hold quoted
    /// parts and `[]`.
    fn skip_type(&mut self) -> Result<(), String> {
        let (mut depth, mut quoted) = (1usize, false);
        for (i, &b) in self.rest.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'[' if !quoted => depth += 1,
                b']' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        self.rest = self.rest.get(i + 1..).unwrap_or_default();
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err("the line ends inside a type name".into())
    }

    fn bare_word(&mut self, word: &[u8]) -> bool {
        let Some(after) = self.rest.strip_prefix(word) else {
            return false;
        };
        if after.is_empty() || after.starts_with(b" ") {
            self.rest = after;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        let shared = self.shared;
        let text = |v: &[u8]| Value::Text(view_or_copy(shared, v));
        if self.rest.first() == Some(&b'\'') {
            if let Some(plain) = self.plain_quoted() {
                return Ok(text(plain));
            }
            return Ok(Value::Text(Bytes::from(self.quoted(b'\'', "value")?)));
        }
        if self.bare_word(b"null") {
            return Ok(Value::Null);
        }
        if self.bare_word(b"unchanged-toast-datum") {
            return Ok(Value::Unchanged);
        }
        if self.bare_word(b"true") {
            return Ok(text(b"t"));
        }
        if self.bare_word(b"false") {
            return Ok(text(b"f"));
        }
        if self.eat(b"B'") {
            let bits = self.until(b'\'', "a bit string")?;
            return Ok(text(bits.as_bytes()));
        }
        let len = self.rest.iter().take_while(|&&b| b != b' ').count();
        if len == 0 {
            return Err(format!("expected a value at {}", preview(self.rest)));
        }
        let (word, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(text(word))
    }
}

#[cfg(test)]
#[path = "test_decoding_tests.rs"]
mod tests;
