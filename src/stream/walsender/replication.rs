//! `START_REPLICATION SLOT s LOGICAL lsn (options)`: the CopyBoth stream of
//! XLogData and keepalive messages, and the standby status updates that
//! tell the server how far we have written, flushed and applied.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::FutureExt;
use postgres_protocol::message::frontend;
use tokio::time::Instant;

use super::backend::{Reader, ServerMessage};
use super::error::WalSenderError;
use super::slot::validate_slot_name;
use super::startup::{encode_error, unexpected};
use super::WalSender;
use crate::stream::lsn::Lsn;

/// One decoded-change message of the stream: the plugin's bytes for the WAL
/// record at `wal_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XLogData {
    /// The LSN the plugin wrote the message at (a change's record, a
    /// commit's end). pgoutput sends its Relation and Type messages at 0/0.
    pub wal_start: Lsn,
    /// The server's current end of WAL when it sent this.
    pub wal_end: Lsn,
    pub server_time: SystemTime,
    /// The output plugin's message, shared with the receive buffer (no copy).
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationMessage {
    XLogData(XLogData),
    /// The server's heartbeat. With `reply_requested`, a status update was
    /// already queued in answer (the server disconnects clients that stay
    /// silent for `wal_sender_timeout`).
    Keepalive {
        wal_end: Lsn,
        server_time: SystemTime,
        reply_requested: bool,
    },
}

/// The default interval between standby status updates, like
/// pg_recvlogical's `--status-interval`: well within the server's default
/// `wal_sender_timeout` of 60 s.
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// A running logical replication stream. Read it with
/// [`ReplicationStream::next`]; tell the server what is durable with
/// [`ReplicationStream::report`]; end it with [`ReplicationStream::finish`].
pub struct ReplicationStream {
    sender: WalSender,
    status_interval: Duration,
    written: Lsn,
    flushed: Lsn,
    applied: Lsn,
    last_status: Instant,
    /// A message read but not yet returned (a status update to write first).
    pending: Option<ReplicationMessage>,
    /// The server ended the stream (CopyDone).
    server_done: bool,
    /// Messages taken as they were buffered since the clock was last read.
    unclocked: u32,
}

/// Buffered messages taken in a row before the status timer is looked at.
const CLOCK_EVERY: u32 = 64;

impl WalSender {
    /// Starts streaming the changes of logical slot `slot` from `start`
    /// (the slot's `confirmed_flush_lsn` is used when it is later, as the
    /// server does). `options` go to the output plugin, e.g. pgoutput's
    /// `proto_version` and `publication_names`, or wal2json's
    /// `include-lsn`; names are quoted as identifiers, values as literals.
    pub async fn start_replication(
        mut self,
        slot: &str,
        start: Lsn,
        options: &[(String, String)],
    ) -> Result<ReplicationStream, WalSenderError> {
        validate_slot_name(slot)?;
        let sql = start_replication_command(slot, start, options);
        self.send_query(&sql).await?;
        loop {
            let frame = self.frames.read().await?;
            match frame.tag {
                b'W' => break,
                b'E' => {
                    let error = ServerMessage::parse(frame.body)?.into_error(self.server());
                    return Err(error);
                }
                _ => self.other_message(frame.tag, frame.body, "START_REPLICATION")?,
            }
        }
        Ok(ReplicationStream {
            sender: self,
            status_interval: DEFAULT_STATUS_INTERVAL,
            written: Lsn::INVALID,
            flushed: Lsn::INVALID,
            applied: Lsn::INVALID,
            last_status: Instant::now(),
            pending: None,
            server_done: false,
            unclocked: 0,
        })
    }
}

pub(crate) fn start_replication_command(
    slot: &str,
    start: Lsn,
    options: &[(String, String)],
) -> String {
    let mut sql = format!("START_REPLICATION SLOT {slot} LOGICAL {start}");
    if !options.is_empty() {
        let list: Vec<String> = options
            .iter()
            .map(|(k, v)| format!("\"{}\" '{}'", k.replace('"', "\"\""), v.replace('\'', "''")))
            .collect();
        sql.push_str(&format!(" ({})", list.join(", ")));
    }
    sql
}

impl ReplicationStream {
    /// Sends a status update at least this often, whatever the traffic
    /// (default [`DEFAULT_STATUS_INTERVAL`]).
    pub fn with_status_interval(mut self, interval: Duration) -> Self {
        self.status_interval = interval;
        self
    }

    /// The next message, or `None` when the server ended the stream. Sends
    /// the due status updates meanwhile. Cancel-safe: dropping the future
    /// loses no message and no half-written update. After an error the
    /// stream is unusable: drop it and connect again.
    pub async fn next(&mut self) -> Result<Option<ReplicationMessage>, WalSenderError> {
        loop {
            self.sender.frames.flush().await?;
            if let Some(message) = self.pending.take() {
                return Ok(Some(message));
            }
            if self.server_done {
                return Ok(None);
            }
            // A message already buffered is taken as it is: no timer, no
            // clock read, no select (per message, they were 5 % of the
            // follower's CPU draining a backlog). The clock is still read
            // every CLOCK_EVERY messages, so a stream that never pauses
            // sends its status updates on time.
            let ready = if self.unclocked < CLOCK_EVERY {
                self.sender.frames.read().now_or_never()
            } else {
                None
            };
            let frame = match ready {
                Some(frame) => {
                    self.unclocked += 1;
                    frame?
                }
                None => {
                    self.unclocked = 0;
                    if self.last_status.elapsed() >= self.status_interval {
                        self.queue_status();
                        continue;
                    }
                    let deadline = self.last_status + self.status_interval;
                    let read = tokio::select! {
                        biased;
                        frame = self.sender.frames.read() => Some(frame?),
                        _ = tokio::time::sleep_until(deadline) => None,
                    };
                    let Some(frame) = read else { continue };
                    frame
                }
            };
            match frame.tag {
                b'd' => {
                    let message = parse_copy_data(frame.body)?;
                    if let ReplicationMessage::Keepalive {
                        reply_requested: true,
                        ..
                    } = message
                    {
                        self.queue_status();
                        self.pending = Some(message);
                        continue;
                    }
                    return Ok(Some(message));
                }
                // CopyDone; or CommandComplete alone, what a walsender
                // sends when its server shuts down (after the client has
                // confirmed everything sent).
                b'c' | b'C' => self.server_done = true,
                b'E' => {
                    let error = ServerMessage::parse(frame.body)?.into_error(self.sender.server());
                    return Err(error);
                }
                _ => self
                    .sender
                    .other_message(frame.tag, frame.body, "replication")?,
            }
        }
    }

    /// Records how far the client got: received (`written`), durably stored
    /// (`flushed`: the slot's `confirmed_flush_lsn` follows it, and the
    /// server may recycle WAL before it) and applied. Positions never move
    /// back. Sent with the next status update; see
    /// [`ReplicationStream::flush_status`] to send now.
    pub fn report(&mut self, written: Lsn, flushed: Lsn, applied: Lsn) {
        self.written = self.written.max(written);
        self.flushed = self.flushed.max(flushed);
        self.applied = self.applied.max(applied);
    }

    /// The connection the stream runs on (server, backend pid...).
    pub fn sender(&self) -> &WalSender {
        &self.sender
    }

    /// The positions last given to [`ReplicationStream::report`].
    pub fn reported(&self) -> (Lsn, Lsn, Lsn) {
        (self.written, self.flushed, self.applied)
    }

    /// Sends a status update with the reported positions now.
    pub async fn flush_status(&mut self) -> Result<(), WalSenderError> {
        self.queue_status();
        self.sender.frames.flush().await
    }

    /// Ends the stream cleanly: a last status update, CopyDone, then reads
    /// what the server still sends up to ReadyForQuery. The connection is
    /// returned, ready for another command (DROP_REPLICATION_SLOT...).
    pub async fn finish(mut self) -> Result<WalSender, WalSenderError> {
        self.queue_status();
        frontend::copy_done(self.sender.frames.out());
        self.sender.frames.flush().await?;
        let mut error = None;
        loop {
            let frame = self.sender.frames.read().await?;
            match frame.tag {
                // What the server sent before it saw our CopyDone.
                b'd' | b'c' | b'C' => {}
                b'E' => error = Some(ServerMessage::parse(frame.body)?),
                b'Z' => break,
                _ => self
                    .sender
                    .other_message(frame.tag, frame.body, "the end of replication")?,
            }
        }
        self.sender.in_command = false;
        match error {
            Some(e) => Err(e.into_error(self.sender.server())),
            None => Ok(self.sender),
        }
    }

    /// Encodes a standby status update ('r') into the write buffer.
    fn queue_status(&mut self) {
        let mut update = [0u8; 34];
        update[0] = b'r';
        update[1..9].copy_from_slice(&self.written.0.to_be_bytes());
        update[9..17].copy_from_slice(&self.flushed.0.to_be_bytes());
        update[17..25].copy_from_slice(&self.applied.0.to_be_bytes());
        update[25..33].copy_from_slice(&pg_now().to_be_bytes());
        // update[33] = 0: we do not ask the server for an immediate reply.
        match frontend::CopyData::new(&update[..]).map_err(encode_error) {
            Ok(data) => data.write(self.sender.frames.out()),
            // A 34-byte message always fits: unreachable in practice.
            Err(e) => tracing::warn!("{e}"),
        }
        self.last_status = Instant::now();
    }
}

/// Microseconds from 2000-01-01 (PostgreSQL's epoch) to 1970-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800 * 1_000_000;

fn pg_now() -> i64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    micros - PG_EPOCH_OFFSET_MICROS
}

fn pg_time(micros: i64) -> SystemTime {
    let unix = micros.saturating_add(PG_EPOCH_OFFSET_MICROS);
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_micros(unix as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(unix.unsigned_abs())
    }
}

/// A CopyData of the stream: 'w' XLogData or 'k' primary keepalive.
fn parse_copy_data(body: Bytes) -> Result<ReplicationMessage, WalSenderError> {
    let mut r = Reader::new(body, "CopyData");
    match r.u8()? {
        b'w' => {
            let wal_start = Lsn(r.u64()?);
            let wal_end = Lsn(r.u64()?);
            let server_time = pg_time(r.i64()?);
            Ok(ReplicationMessage::XLogData(XLogData {
                wal_start,
                wal_end,
                server_time,
                data: r.rest(),
            }))
        }
        b'k' => Ok(ReplicationMessage::Keepalive {
            wal_end: Lsn(r.u64()?),
            server_time: pg_time(r.i64()?),
            reply_requested: r.u8()? != 0,
        }),
        other => Err(unexpected(other, "replication (CopyData)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_options_are_quoted() {
        let options = vec![
            ("proto_version".to_string(), "1".to_string()),
            ("publication_names".to_string(), "p'1".to_string()),
        ];
        assert_eq!(
            start_replication_command("s", Lsn(0x1_0000_00A0), &options),
            "START_REPLICATION SLOT s LOGICAL 1/A0 (\"proto_version\" '1', \"publication_names\" 'p''1')"
        );
        assert_eq!(
            start_replication_command("s", Lsn(0), &[]),
            "START_REPLICATION SLOT s LOGICAL 0/0"
        );
    }

    #[test]
    fn xlogdata_shares_the_frame_buffer() {
        let mut frame = vec![b'w'];
        frame.extend_from_slice(&0x10u64.to_be_bytes());
        frame.extend_from_slice(&0x20u64.to_be_bytes());
        frame.extend_from_slice(&0i64.to_be_bytes());
        frame.extend_from_slice(b"BEGIN 42");
        let body = Bytes::from(frame);
        let start = body.as_ptr() as usize;
        let ReplicationMessage::XLogData(x) = parse_copy_data(body).unwrap() else {
            panic!("not XLogData")
        };
        assert_eq!((x.wal_start, x.wal_end), (Lsn(0x10), Lsn(0x20)));
        assert_eq!(&x.data[..], b"BEGIN 42");
        assert_eq!(x.data.as_ptr() as usize, start + 25);
        assert_eq!(x.server_time, pg_time(0));
    }
}
