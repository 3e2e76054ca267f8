//! Statements in flight on the applier's own session, encoded here in the
//! extended protocol: Bind/Execute per row change with ONE Sync per batch,
//! not one per statement (what tokio-postgres sends), so the server answers
//! ReadyForQuery and flushes its output once per batch instead of once per
//! row. Results are read back in send order.
//!
//! A batch ends with a Sync: before every simple query (BEGIN, COMMIT,
//! TRUNCATE: a Query message that the server would skip after an error in
//! an unsynced batch, leaving no answer to wait for), and when a result is
//! awaited whose batch is not synced yet (the server flushes at Sync).
//! After an error the server skips every message up to the next Sync: the
//! statements after the failed one in its batch get no answer, and are
//! reported as not run (the first error is the one the applier reports).
//!
//! The connection is opened with the walsender's connection code (hosts,
//! TLS, authentication) as a plain session.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;

use super::param::Param;
use crate::conninfo::ConnInfo;
use crate::error::{Failure, Kind, Side};
use crate::stream::walsender::backend::ServerMessage;
use crate::stream::walsender::frame::Frames;
use crate::stream::walsender::{QueryResult, WalSender, WalSenderError};

/// Bounds of what is in flight: enough to hide the round trip, little
/// enough that memory stays flat whatever the transaction's size. The
/// statement bound also bounds the answers the server writes before we
/// read them (about 20 bytes each: under the socket buffers, so the server
/// never blocks writing while we block writing to it).
pub const MAX_STATEMENTS: usize = 2048;
const MAX_BYTES: usize = 8 << 20;
/// Encoded bytes written to the socket once they reach this much (and
/// whenever a simple query is queued or a result awaited).
const WRITE_AT: usize = 64 << 10;

/// What the server owes for one queued message.
enum Owed<T> {
    /// Bind + Execute: BindComplete and CommandComplete, or an error.
    Statement(T),
    /// A simple query: its results up to ReadyForQuery.
    Simple(T),
    /// Sync: ReadyForQuery; the skipping after an error ends there.
    Sync,
    /// CopyFail of an abandoned COPY: its error, then ReadyForQuery.
    CopyAbort,
    /// Close of a prepared statement: CloseComplete (none when skipped).
    Close,
}

pub struct Pipeline<T> {
    conn: WalSender,
    queue: VecDeque<(Owed<T>, usize)>,
    /// Entries of the queue that carry a tag (statements, simple queries).
    tagged: usize,
    /// Syncs and simple queries in the queue: batch ends.
    ends: usize,
    bytes: usize,
    max_statements: usize,
    /// Statements were sent since the last batch end.
    unsynced: bool,
    /// A simple query was queued: write it out now (a COMMIT must not wait
    /// for the next batch).
    urgent: bool,
    /// An error was read in the current batch: the server skipped the rest.
    skipping: bool,
    /// A COPY FROM STDIN is open (see `copy_in`).
    in_copy: bool,
    /// The connection failed: every later result is this failure.
    broken: Option<Failure>,
    next_name: u64,
}

impl<T> Pipeline<T> {
    /// Open a plain session to the target.
    pub async fn connect(target: &ConnInfo) -> Result<Self, Failure> {
        let conn = WalSender::connect_session(target)
            .await
            .map_err(target_failure)?;
        Ok(Pipeline {
            conn,
            queue: VecDeque::new(),
            tagged: 0,
            ends: 0,
            bytes: 0,
            max_statements: MAX_STATEMENTS,
            unsynced: false,
            urgent: false,
            skipping: false,
            in_copy: false,
            broken: None,
            next_name: 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tagged == 0
    }

    /// More in flight than the bounds allow: settle the oldest first.
    pub fn is_full(&self) -> bool {
        self.tagged >= self.max_statements || self.bytes >= MAX_BYTES
    }

    /// At most `n` statements in flight (1: each is answered before the
    /// next is sent, for measurements).
    pub fn set_max_statements(&mut self, n: usize) {
        self.max_statements = n.max(1);
    }

    /// Queue a prepared statement with its parameters (text or binary, as
    /// the change carried them; the server infers their types).
    pub fn execute(&mut self, statement: &str, params: &[Param], tag: T) {
        self.abandon_copy();
        if params.iter().any(|p| p.wire_len() >= LARGE_PARAM) {
            if let Err(message) = bind_large(self.conn.frames(), statement, params) {
                self.broken.get_or_insert(Failure::target(format!(
                    "cannot encode a statement's parameters for the target: {message}"
                )));
            }
        } else {
            self.bind(statement, params);
        }
        if let Err(e) = frontend::execute("", 0, self.conn.frames().out()) {
            self.broken.get_or_insert(encode_failure(&e));
        }
        self.unsynced = true;
        let bytes = params.iter().map(Param::wire_len).sum::<usize>() + 64;
        self.push(Owed::Statement(tag), bytes);
    }

    fn bind(&mut self, statement: &str, params: &[Param]) {
        if let Err(e) = bind(statement, params, self.conn.frames().out()) {
            // More than 65535 parameters: the protocol cannot carry them.
            let message = match e {
                frontend::BindError::Conversion(e) => e.to_string(),
                frontend::BindError::Serialization(e) => e.to_string(),
            };
            self.broken.get_or_insert(Failure::target(format!(
                "cannot encode a statement's parameters for the target: {message}"
            )));
        }
    }

    /// Queue a statement without parameters by the simple query protocol
    /// (BEGIN, COMMIT, TRUNCATE): it ends the batch before it.
    pub fn simple(&mut self, sql: String, tag: T) {
        self.abandon_copy();
        self.end_batch();
        if let Err(e) = frontend::query(&sql, self.conn.frames().out()) {
            self.broken.get_or_insert(encode_failure(&e));
        }
        self.urgent = true;
        self.ends += 1;
        self.push(Owed::Simple(tag), sql.len());
    }

    fn push(&mut self, owed: Owed<T>, bytes: usize) {
        self.tagged += 1;
        self.bytes += bytes;
        self.queue.push_back((owed, bytes));
    }

    /// Write what is encoded when it is worth a write (or urgent).
    pub async fn send(&mut self) {
        if self.urgent || self.conn.frames().unsent() >= WRITE_AT {
            self.urgent = false;
            self.write().await;
        }
    }

    async fn write(&mut self) {
        if self.broken.is_some() {
            return;
        }
        if let Err(e) = self.conn.frames().flush().await {
            self.broken = Some(target_failure(e));
        }
    }

    /// A Sync after the statements sent since the last batch end.
    fn end_batch(&mut self) {
        if self.unsynced {
            frontend::sync(self.conn.frames().out());
            self.unsynced = false;
            self.ends += 1;
            self.queue.push_back((Owed::Sync, 0));
        }
    }

    /// The oldest statement's result, once the server has answered it.
    pub async fn next(&mut self) -> Option<(T, Result<u64, Failure>)> {
        loop {
            if matches!(
                self.queue.front(),
                Some((Owed::Statement(_) | Owed::Close, _))
            ) && self.ends == 0
            {
                // Its batch is still open: the server answers at the Sync.
                self.end_batch();
            }
            if self.conn.frames().unsent() > 0 {
                self.write().await;
            }
            let (owed, bytes) = self.queue.pop_front()?;
            self.bytes -= bytes;
            match owed {
                Owed::Statement(tag) => {
                    self.tagged -= 1;
                    let result = self.read_statement().await;
                    return Some((tag, result));
                }
                Owed::Simple(tag) => {
                    self.tagged -= 1;
                    self.ends -= 1;
                    let result = self.read_simple().await;
                    return Some((tag, result));
                }
                Owed::Close => {
                    if self.check().is_ok() && !self.skipping {
                        // Only a broken link can fail it (closing an
                        // unknown name is no error): kept in `broken`.
                        let _ = self.read_close().await;
                    }
                }
                Owed::Sync | Owed::CopyAbort => {
                    self.ends -= usize::from(matches!(owed, Owed::Sync));
                    // Nothing to report: an abandoned COPY's error is the
                    // expected consequence of abandoning it.
                    if let Err(e) = self.read_until_ready().await {
                        if self.broken.is_none() && e.kind == Kind::ConnectionLost {
                            self.broken = Some(e);
                        }
                    }
                    self.skipping = false;
                }
            }
        }
    }

    /// Read every answer owed to messages without a tag (Syncs, aborted
    /// COPYs): the session is then idle between messages of its own.
    async fn settle_untagged(&mut self) -> Result<(), Failure> {
        self.end_batch();
        while let Some(result) = self.next().await {
            // Only untagged entries are left when this is called.
            result.1?;
        }
        self.check()
    }

    fn check(&self) -> Result<(), Failure> {
        match &self.broken {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    async fn read_statement(&mut self) -> Result<u64, Failure> {
        self.check()?;
        if self.skipping {
            return Err(Failure::target(
                "not run: an earlier statement sent with it failed".to_string(),
            ));
        }
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'2' => {}
                b'C' => return Ok(rows_of(&frame.body)),
                b'E' => {
                    self.skipping = true;
                    return Err(self.server_error(frame.body));
                }
                other => self.other(other, frame.body)?,
            }
        }
    }

    async fn read_close(&mut self) -> Result<(), Failure> {
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'3' => return Ok(()),
                b'E' => {
                    self.skipping = true;
                    return Err(self.server_error(frame.body));
                }
                other => self.other(other, frame.body)?,
            }
        }
    }

    async fn read_simple(&mut self) -> Result<u64, Failure> {
        self.check()?;
        let mut error = None;
        let mut rows = 0;
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'C' => rows = rows_of(&frame.body),
                b'T' | b'D' | b'I' => {}
                b'E' => {
                    let e = self.server_error(frame.body);
                    error.get_or_insert(e);
                }
                b'Z' => return error.map_or(Ok(rows), Err),
                other => self.other(other, frame.body)?,
            }
        }
    }

    /// Answers up to ReadyForQuery; the first error among them.
    async fn read_until_ready(&mut self) -> Result<(), Failure> {
        self.check()?;
        let mut error = None;
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'Z' => return error.map_or(Ok(()), Err),
                b'E' => {
                    let e = self.server_error(frame.body);
                    error.get_or_insert(e);
                }
                b'1' | b'2' | b'3' | b'C' | b'T' | b'D' | b'I' | b'n' | b't' => {}
                other => self.other(other, frame.body)?,
            }
        }
    }

    async fn read(&mut self) -> Result<crate::stream::walsender::frame::Frame, Failure> {
        match self.conn.frames().read().await {
            Ok(frame) => Ok(frame),
            Err(e) => {
                let e = target_failure(e);
                self.broken = Some(e.clone());
                Err(e)
            }
        }
    }

    fn other(&mut self, tag: u8, body: Bytes) -> Result<(), Failure> {
        if let Err(e) = self.conn.other_message(tag, body, "applying changes") {
            let e = target_failure(e);
            self.broken = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    fn server_error(&mut self, body: Bytes) -> Failure {
        let server = self.conn.server().to_string();
        match ServerMessage::parse(body) {
            Ok(m) => target_failure(m.into_error(&server)),
            Err(e) => {
                let e = target_failure(e);
                self.broken = Some(e.clone());
                e
            }
        }
    }

    /// Run `sql` (setup, close) once nothing is in flight; its rows as text.
    pub async fn query(&mut self, sql: &str) -> Result<QueryResult, Failure> {
        self.abandon_copy();
        self.settle_untagged().await?;
        self.conn.simple_query(sql).await.map_err(target_failure)
    }

    /// Prepare `sql` as a named statement, once nothing is in flight (a
    /// failure is then this statement's own); its name.
    pub async fn prepare(&mut self, sql: &str) -> Result<String, Failure> {
        self.abandon_copy();
        self.settle_untagged().await?;
        let name = format!("a{}", self.next_name);
        self.next_name += 1;
        let out = self.conn.frames().out();
        frontend::parse(&name, sql, std::iter::empty(), out).map_err(|e| encode_failure(&e))?;
        frontend::sync(out);
        self.write().await;
        self.read_until_ready().await?;
        Ok(name)
    }

    /// Drop a prepared statement no longer used (its table changed shape),
    /// after what was sent before it.
    pub fn close_statement(&mut self, name: &str) {
        self.abandon_copy();
        if let Err(e) = frontend::close(b'S', name, self.conn.frames().out()) {
            self.broken.get_or_insert(encode_failure(&e));
        }
        self.unsynced = true;
        self.queue.push_back((Owed::Close, 0));
    }

    /// Start `COPY ... FROM STDIN` once nothing is in flight.
    pub async fn copy_in(&mut self, sql: &str) -> Result<(), Failure> {
        self.abandon_copy();
        self.settle_untagged().await?;
        frontend::query(sql, self.conn.frames().out()).map_err(|e| encode_failure(&e))?;
        self.write().await;
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'G' => {
                    self.in_copy = true;
                    return Ok(());
                }
                b'E' => {
                    let e = self.server_error(frame.body);
                    self.read_until_ready().await?;
                    return Err(e);
                }
                other => self.other(other, frame.body)?,
            }
        }
    }

    /// Send COPY data (whole rows); written once enough is encoded.
    pub async fn copy_data(&mut self, data: Bytes) -> Result<(), Failure> {
        let out = self.conn.frames().out();
        frontend::CopyData::new(data)
            .map_err(|e| encode_failure(&e))?
            .write(out);
        self.send().await;
        self.check()
    }

    /// End the COPY; the rows the server took.
    pub async fn copy_finish(&mut self) -> Result<u64, Failure> {
        self.in_copy = false;
        frontend::copy_done(self.conn.frames().out());
        self.write().await;
        self.check()?;
        let mut rows = 0;
        let mut error = None;
        loop {
            let frame = self.read().await?;
            match frame.tag {
                b'C' => rows = rows_of(&frame.body),
                b'E' => {
                    let e = self.server_error(frame.body);
                    error.get_or_insert(e);
                }
                b'Z' => return error.map_or(Ok(rows), Err),
                other => self.other(other, frame.body)?,
            }
        }
    }

    /// A COPY left open (its transaction failed, or the applier closes):
    /// abort it, as dropping tokio-postgres' sink did.
    fn abandon_copy(&mut self) {
        if std::mem::take(&mut self.in_copy) {
            if let Err(e) =
                frontend::copy_fail("abandoned by the applier", self.conn.frames().out())
            {
                self.broken.get_or_insert(encode_failure(&e));
            }
            self.queue.push_back((Owed::CopyAbort, 0));
        }
    }
}

/// The row count at the end of a command tag ("INSERT 0 1", "UPDATE 3").
fn rows_of(tag: &[u8]) -> u64 {
    let tag = tag.strip_suffix(b"\0").unwrap_or(tag);
    tag.rsplit(|b| *b == b' ')
        .next()
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn target_failure(e: WalSenderError) -> Failure {
    e.into_failure_on(Side::Target)
}

/// A Bind of the unnamed portal with `params` in the format each carries,
/// every result in text.
fn bind(statement: &str, params: &[Param], out: &mut BytesMut) -> Result<(), frontend::BindError> {
    frontend::bind(
        "",
        statement,
        params
            .iter()
            .map(|p| i16::from(matches!(p, Param::Binary(_)))),
        params.iter(),
        |p, buf| match p {
            Param::Null => Ok(IsNull::Yes),
            Param::Text(b) | Param::Binary(b) => {
                buf.put_slice(b);
                Ok(IsNull::No)
            }
        },
        std::iter::empty(),
        out,
    )
}

/// A parameter this large goes to the socket from where it was decoded
/// (see [`Frames::out_chunk`]) rather than through the write buffer.
const LARGE_PARAM: usize = 64 << 10;

/// A Bind of the unnamed portal, as `frontend::bind` encodes it, with each
/// large parameter queued as it is instead of copied.
fn bind_large(frames: &mut Frames, statement: &str, params: &[Param]) -> Result<(), String> {
    let count = i16::try_from(params.len())
        .map_err(|_| format!("{} parameters, more than a Bind carries", params.len()))?;
    let values: usize = params.iter().map(|p| 4 + p.wire_len()).sum();
    let body = 4 + 1 + statement.len() + 1 + 2 + 2 * params.len() + 2 + values + 2;
    let body = i32::try_from(body).map_err(|_| "a Bind message over 2 GB".to_string())?;
    let out = frames.out();
    out.put_u8(b'B');
    out.put_i32(body);
    out.put_u8(0);
    out.put_slice(statement.as_bytes());
    out.put_u8(0);
    out.put_i16(count);
    for p in params {
        out.put_i16(i16::from(matches!(p, Param::Binary(_))));
    }
    out.put_i16(count);
    for p in params {
        let out = frames.out();
        match p {
            Param::Null => out.put_i32(-1),
            Param::Text(b) | Param::Binary(b) => {
                // Under the body's length, which fits an i32.
                out.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
                if b.len() >= LARGE_PARAM {
                    frames.out_chunk(b.clone());
                } else {
                    out.put_slice(b);
                }
            }
        }
    }
    // No result format codes: every result in text.
    frames.out().put_i16(0);
    Ok(())
}

fn encode_failure(e: &std::io::Error) -> Failure {
    Failure::target(format!("cannot encode a message for the target: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Bind with a large parameter, its value queued rather than copied,
    /// reaches the socket byte for byte as `frontend::bind` encodes it.
    #[tokio::test]
    async fn a_bind_with_a_large_value_is_the_bind_the_protocol_crate_encodes() {
        use tokio::io::AsyncReadExt;

        let params = [
            Param::Text(Bytes::from_static(b"small")),
            Param::Null,
            Param::Binary(Bytes::from(vec![7u8; LARGE_PARAM * 3])),
            Param::Text(Bytes::from(vec![b'x'; LARGE_PARAM])),
        ];
        let mut expected = BytesMut::new();
        bind("s1", &params, &mut expected)
            .map_err(|_| "frontend::bind failed")
            .unwrap();
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut frames = Frames::new(Box::new(client), "test".into());
        bind_large(&mut frames, "s1", &params).unwrap();
        assert_eq!(frames.unsent(), expected.len());
        frames.flush().await.unwrap();
        assert_eq!(frames.unsent(), 0);
        let mut got = vec![0u8; expected.len()];
        server.read_exact(&mut got).await.unwrap();
        assert!(got == expected[..], "the encodings differ");
    }

    #[test]
    fn row_counts_come_from_the_command_tag() {
        assert_eq!(rows_of(b"INSERT 0 1\0"), 1);
        assert_eq!(rows_of(b"UPDATE 37\0"), 37);
        assert_eq!(rows_of(b"DELETE 0\0"), 0);
        assert_eq!(rows_of(b"COPY 1000\0"), 1000);
        assert_eq!(rows_of(b"BEGIN\0"), 0);
    }
}
