//! Reading and writing protocol messages on the replication socket.
//!
//! Reading streams: bytes are read into one buffer and each whole message
//! is split off it as a view (`Bytes`), with no copy and no allocation per
//! message: a backlog's small messages share the 64 kB blocks they arrived
//! in. A message larger than what is buffered gets room for exactly its
//! length (a 100 MB XLogData costs one 100 MB buffer, nothing more). Both
//! directions keep their progress in [`Frames`], so every async method here
//! is cancel-safe: a `select!` that drops a read or a write half-way loses
//! nothing and the next call resumes it.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::WalSenderError;

/// The socket, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One backend message: its type byte and its body (length word excluded).
pub(crate) struct Frame {
    pub tag: u8,
    pub body: Bytes,
}

/// Bytes read from the socket at most per read, for messages smaller than
/// this; a new block is taken when less than a quarter of it is left.
const READ_BUFFER: usize = 64 * 1024;

/// Type byte and length word.
const HEADER: usize = 5;

/// 1 GB of data plus the XLogData header and some slack.
const MAX_MESSAGE: i32 = (1 << 30) + 1024;

pub(crate) struct Frames {
    io: Box<dyn Io>,
    /// "host:port", for error messages.
    pub server: String,
    /// Read and not yet split off as messages.
    input: BytesMut,
    /// Encoded messages not yet written: what [`Frames::out_chunk`] queued
    /// (large values, sent as they are), then `out`.
    queued: VecDeque<Bytes>,
    queued_len: usize,
    out: BytesMut,
    /// Bytes were written since the last flush of the stream (TLS buffers).
    unflushed: bool,
}

impl Frames {
    pub fn new(io: Box<dyn Io>, server: String) -> Frames {
        Frames {
            io,
            server,
            input: BytesMut::new(),
            queued: VecDeque::new(),
            queued_len: 0,
            out: BytesMut::new(),
            unflushed: false,
        }
    }

    /// The write buffer, to encode messages into before [`Frames::flush`].
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Continue the message being encoded with `chunk` as it is, without
    /// copying it into the write buffer: a large value is then held once
    /// (where it was decoded), not twice.
    pub fn out_chunk(&mut self, chunk: Bytes) {
        if !self.out.is_empty() {
            let encoded = self.out.split().freeze();
            self.queue(encoded);
        }
        self.queue(chunk);
    }

    fn queue(&mut self, chunk: Bytes) {
        self.queued_len += chunk.len();
        self.queued.push_back(chunk);
    }

    /// Bytes encoded and not yet written.
    pub fn unsent(&self) -> usize {
        self.queued_len + self.out.len()
    }

    /// Writes everything encoded so far. Cancel-safe, and free when there
    /// is nothing to write (the stream calls it before every read).
    pub async fn flush(&mut self) -> Result<(), WalSenderError> {
        while let Some(chunk) = self.queued.front_mut() {
            if !chunk.has_remaining() {
                self.queued.pop_front();
                continue;
            }
            self.unflushed = true;
            let n = self
                .io
                .write_buf(chunk)
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            if n == 0 {
                return Err(self.closed());
            }
            self.queued_len -= n;
        }
        while self.out.has_remaining() {
            self.unflushed = true;
            let n = self
                .io
                .write_buf(&mut self.out)
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            if n == 0 {
                return Err(self.closed());
            }
        }
        if self.unflushed {
            self.io
                .flush()
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Reads the next whole message. Cancel-safe: what a dropped read got
    /// stays in `input`.
    pub async fn read(&mut self) -> Result<Frame, WalSenderError> {
        loop {
            if let Some(total) = self.message_len()? {
                if self.input.len() >= total {
                    let mut message = self.input.split_to(total);
                    if total > READ_BUFFER {
                        // What follows shares the message's block: moved to
                        // one of its own, the large block goes with the
                        // message instead of staying for the rest of the run.
                        self.input = BytesMut::from(&self.input[..]);
                    }
                    let tag = message.first().copied().unwrap_or_default();
                    message.advance(HEADER);
                    return Ok(Frame {
                        tag,
                        body: message.freeze(),
                    });
                }
                if total > READ_BUFFER {
                    // Room for exactly the rest of this message.
                    self.input.reserve(total - self.input.len());
                }
            }
            if self.input.capacity() - self.input.len() < READ_BUFFER / 4 {
                self.input.reserve(READ_BUFFER);
            }
            let n = self
                .io
                .read_buf(&mut self.input)
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            if n == 0 {
                return Err(self.closed());
            }
        }
    }

    /// The whole length of the buffered message (type byte and length word
    /// included), once its header is in.
    fn message_len(&self) -> Result<Option<usize>, WalSenderError> {
        let Some(Ok(word)) = self.input.get(1..HEADER).map(<[u8; 4]>::try_from) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes(word);
        // PostgreSQL never sends more than 1 GB of data in one message
        // (MaxAllocSize): a larger length is a broken stream, not a reason
        // to allocate it.
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(WalSenderError::protocol(format!(
                "invalid message length {len} from {}",
                self.server
            )));
        }
        Ok(Some(len as usize + 1))
    }

    /// Reads a single byte outside the message framing (the answer to an
    /// SSLRequest). Only valid before anything else was read.
    pub async fn read_byte(&mut self) -> Result<u8, WalSenderError> {
        if !self.input.is_empty() {
            return Ok(self.input.split_to(1).first().copied().unwrap_or_default());
        }
        self.io
            .read_u8()
            .await
            .map_err(|e| WalSenderError::io(&e, &self.server))
    }

    /// Gives the socket back (to wrap it in TLS). Only valid before anything
    /// but the SSLRequest answer was read, and with nothing buffered.
    pub fn into_io(self) -> Result<Box<dyn Io>, WalSenderError> {
        if !self.input.is_empty() {
            // A server must not send anything after 'S' before the handshake
            // (CVE-2021-23222): refuse rather than mix plain text into TLS.
            return Err(WalSenderError::protocol(format!(
                "{} sent unencrypted data after accepting TLS",
                self.server
            )));
        }
        Ok(self.io)
    }

    fn closed(&self) -> WalSenderError {
        WalSenderError::new(
            super::error::WalSenderErrorKind::Closed,
            format!(
                "the server {} closed the replication connection",
                self.server
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A message trickling in, with reads dropped half-way (as a `select!`
    /// does), arrives whole and once.
    #[tokio::test]
    async fn reads_resume_after_being_dropped() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut frames = Frames::new(Box::new(client), "test".into());
        let body: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut message = vec![b'd'];
        message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        message.extend_from_slice(&body);
        message.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);

        for chunk in [&message[..3], &message[3..40_000], &message[40_000..]] {
            // Whatever is there is consumed, and the read cannot complete
            // before the rest of the message is written.
            if let Some(frame) = frames.read().now_or_never() {
                panic!("a frame before its bytes: {}", frame.is_ok());
            }
            server.write_all(chunk).await.unwrap();
        }
        let frame = frames.read().await.unwrap();
        assert_eq!((frame.tag, &frame.body[..]), (b'd', &body[..]));
        let frame = frames.read().await.unwrap();
        assert_eq!((frame.tag, &frame.body[..]), (b'Z', &b"I"[..]));
    }

    /// The block a large message was read into goes with the message, even
    /// when the next message's first bytes arrived with it.
    #[tokio::test]
    async fn a_large_message_leaves_no_large_buffer_behind() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut frames = Frames::new(Box::new(client), "test".into());
        let body = vec![7u8; 3 * READ_BUFFER];
        let mut bytes = vec![b'd'];
        bytes.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
        server.write_all(&bytes).await.unwrap();
        let big = frames.read().await.unwrap();
        assert_eq!((big.tag, big.body.len()), (b'd', body.len()));
        assert!(
            frames.input.capacity() < READ_BUFFER,
            "{} bytes kept",
            frames.input.capacity()
        );
        drop(big);
        let frame = frames.read().await.unwrap();
        assert_eq!((frame.tag, &frame.body[..]), (b'Z', &b"I"[..]));
    }

    #[tokio::test]
    async fn absurd_lengths_are_refused() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut frames = Frames::new(Box::new(client), "test".into());
        server
            .write_all(&[b'd', 0x7f, 0xff, 0xff, 0xff])
            .await
            .unwrap();
        let e = frames.read().await.err().unwrap();
        assert!(e.to_string().contains("invalid message length"), "{e}");
    }
}
