//! Runs of DELETEs by a one-column key: consecutive DELETEs of one table
//! within a source transaction are gathered and sent as one
//! `DELETE ... WHERE key = ANY($1)` (one statement, one index scan per key,
//! instead of one statement per row). Checked like the single-row form:
//! unless missing rows are tolerated, fewer rows deleted than keys sent
//! (the command tag's count) fail the transaction before its commit is sent.
//!
//! Within a run a key appears once: a row deleted twice must have been
//! inserted again in between, and an INSERT ends the run.

use anyhow::{anyhow, Result};
use bytes::{BufMut, Bytes, BytesMut};

use super::param::Param;
use super::settle::{Entry, Kind};
use super::statement::{role, Op};
use super::Applier;
use crate::stream::change::RelId;

/// Keys sent in one statement at most (and bytes of them): bounds what a
/// failure names and what is held before sending.
pub const DELETE_BATCH: u64 = 1000;
const DELETE_BATCH_BYTES: usize = 1 << 20;

/// The DELETEs gathered so far.
pub(super) struct Deletes {
    relation: RelId,
    roles: Vec<u8>,
    /// The keys as an array literal, its closing brace still to come.
    array: BytesMut,
    keys: u64,
    first: Bytes,
}

/// The key of a DELETE that can join a run: exactly one column matched with
/// `=`, sent as text. A value that reads as an array (`{...}`, `[1:2]={...}`)
/// is left to the single-row form: `= ANY` over an array of arrays would
/// compare elements, not the whole value.
pub(super) fn batchable_key(roles: &[u8], params: &[Param]) -> Option<Bytes> {
    let mut matched = roles.iter().filter(|r| **r != 0);
    if matched.next() != Some(&role::MATCH) || matched.next().is_some() {
        return None;
    }
    match params {
        [Param::Text(key)] if !key.starts_with(b"{") && !key.starts_with(b"[") => Some(key.clone()),
        _ => None,
    }
}

impl Applier {
    /// Add a DELETE by `key` to the run (sending the run first when it is of
    /// another table or shape, and when it is full).
    pub(super) async fn delete_by_key(
        &mut self,
        id: RelId,
        roles: Vec<u8>,
        key: Bytes,
    ) -> Result<()> {
        if self
            .deletes
            .as_ref()
            .is_some_and(|d| d.relation != id || d.roles != roles)
        {
            self.send_deletes().await?;
        }
        let run = self.deletes.get_or_insert_with(|| Deletes {
            relation: id,
            roles,
            array: BytesMut::new(),
            keys: 0,
            first: key.clone(),
        });
        run.array.put_u8(if run.keys == 0 { b'{' } else { b',' });
        array_element(&mut run.array, &key);
        run.keys += 1;
        if run.keys >= DELETE_BATCH || run.array.len() >= DELETE_BATCH_BYTES {
            self.send_deletes().await?;
        }
        Ok(())
    }

    /// Send the gathered DELETEs, if any: before any other statement of the
    /// transaction, and before its commit.
    pub(super) async fn send_deletes(&mut self) -> Result<()> {
        let Some(mut run) = self.deletes.take() else {
            return Ok(());
        };
        run.array.put_u8(b'}');
        let prepared = self
            .prepared(run.relation, Op::DeleteMany, &run.roles, false)
            .await?;
        let Some(tx) = &mut self.tx else {
            return Err(anyhow!("a change arrived outside a transaction"));
        };
        tx.rows += run.keys;
        let (seq, xid) = (tx.seq, tx.xid);
        self.counts_unread = true;
        let params = vec![Param::Text(run.array.freeze())];
        let statement = prepared.statement.clone();
        self.pipeline.execute(
            &statement,
            &params,
            Entry::new(
                seq,
                Kind::Deletes {
                    prepared,
                    keys: run.keys,
                    first: run.first,
                    xid,
                },
            ),
        );
        self.make_room().await
    }
}

/// One element of an array literal, double-quoted: any text the key's type
/// printed reads back as that element.
fn array_element(out: &mut BytesMut, value: &[u8]) {
    out.put_u8(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.put_u8(b'\\');
        }
        out.put_u8(b);
    }
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_array_elements() {
        let mut out = BytesMut::new();
        array_element(&mut out, br#"a"b\c,{d}"#);
        assert_eq!(&out[..], br#""a\"b\\c,{d}""#);
    }

    #[test]
    fn only_one_text_key_compared_with_equality_joins_a_run() {
        let text = |s: &str| Param::text(s.to_string());
        assert!(batchable_key(&[role::MATCH, 0], &[text("1")]).is_some());
        assert!(batchable_key(&[role::MATCH, role::MATCH], &[text("1"), text("2")]).is_none());
        assert!(batchable_key(&[role::MATCH_TEXT], &[text("1")]).is_none());
        assert!(batchable_key(&[role::MATCH], &[text("{1,2}")]).is_none());
        let binary = Param::Binary(Bytes::from_static(b"\0\0\0\x01"));
        assert!(batchable_key(&[role::MATCH], &[binary]).is_none());
    }
}
