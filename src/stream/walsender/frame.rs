//! Reading and writing protocol messages on the replication socket.
//!
//! Reading streams: the 5-byte header goes into a fixed array, then the body
//! into one buffer allocated at exactly its length (a 100 MB XLogData costs
//! one 100 MB buffer, nothing more), which becomes the message's `Bytes`
//! without a copy. Both directions keep their progress in [`Frames`], so
//! every async method here is cancel-safe: a `select!` that drops a read or
//! a write half-way loses nothing and the next call resumes it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::error::WalSenderError;

/// The socket, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One backend message: its type byte and its body (length word excluded).
pub(crate) struct Frame {
    pub tag: u8,
    pub body: Bytes,
}

/// Small messages (keepalives, DataRows) are read from this buffer; large
/// bodies bypass it and land directly in their own buffer.
const READ_BUFFER: usize = 64 * 1024;

/// 1 GB of data plus the XLogData header and some slack.
const MAX_MESSAGE: i32 = (1 << 30) + 1024;

pub(crate) struct Frames {
    io: BufReader<Box<dyn Io>>,
    /// "host:port", for error messages.
    pub server: String,
    header: [u8; 5],
    header_read: usize,
    body: BytesMut,
    body_len: usize,
    /// Encoded messages not yet written.
    out: BytesMut,
    /// Bytes were written since the last flush of the stream (TLS buffers).
    unflushed: bool,
}

impl Frames {
    pub fn new(io: Box<dyn Io>, server: String) -> Frames {
        Frames {
            io: BufReader::with_capacity(READ_BUFFER, io),
            server,
            header: [0; 5],
            header_read: 0,
            body: BytesMut::new(),
            body_len: 0,
            out: BytesMut::new(),
            unflushed: false,
        }
    }

    /// The write buffer, to encode messages into before [`Frames::flush`].
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Writes everything encoded so far. Cancel-safe, and free when there
    /// is nothing to write (the stream calls it before every read).
    pub async fn flush(&mut self) -> Result<(), WalSenderError> {
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

    /// Reads the next whole message. Cancel-safe.
    pub async fn read(&mut self) -> Result<Frame, WalSenderError> {
        loop {
            if self.header_read < self.header.len() {
                let rest = self.header.get_mut(self.header_read..).unwrap_or_default();
                let n = self
                    .io
                    .read(rest)
                    .await
                    .map_err(|e| WalSenderError::io(&e, &self.server))?;
                if n == 0 {
                    return Err(self.closed());
                }
                self.header_read += n;
                if self.header_read == self.header.len() {
                    self.start_body()?;
                }
                continue;
            }
            if self.body.len() == self.body_len {
                self.header_read = 0;
                return Ok(Frame {
                    tag: self.header[0],
                    body: std::mem::take(&mut self.body).freeze(),
                });
            }
            let missing = self.body_len - self.body.len();
            let n = self
                .io
                .read_buf(&mut (&mut self.body).limit(missing))
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            if n == 0 {
                return Err(self.closed());
            }
        }
    }

    /// Reads a single byte outside the message framing (the answer to an
    /// SSLRequest). Only valid before anything else was read.
    pub async fn read_byte(&mut self) -> Result<u8, WalSenderError> {
        self.io
            .read_u8()
            .await
            .map_err(|e| WalSenderError::io(&e, &self.server))
    }

    /// Gives the socket back (to wrap it in TLS). Only valid before anything
    /// but the SSLRequest answer was read, and with nothing buffered.
    pub fn into_io(self) -> Result<Box<dyn Io>, WalSenderError> {
        if !self.io.buffer().is_empty() {
            // A server must not send anything after 'S' before the handshake
            // (CVE-2021-23222): refuse rather than mix plain text into TLS.
            return Err(WalSenderError::protocol(format!(
                "{} sent unencrypted data after accepting TLS",
                self.server
            )));
        }
        Ok(self.io.into_inner())
    }

    fn start_body(&mut self) -> Result<(), WalSenderError> {
        let len = i32::from_be_bytes([
            self.header[1],
            self.header[2],
            self.header[3],
            self.header[4],
        ]);
        // PostgreSQL never sends more than 1 GB of data in one message
        // (MaxAllocSize): a larger length is a broken stream, not a reason
        // to allocate it.
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(WalSenderError::protocol(format!(
                "invalid message length {len} from {}",
                self.server
            )));
        }
        self.body_len = len as usize - 4;
        // Exactly the body's size: the one allocation a message costs.
        self.body = BytesMut::with_capacity(self.body_len);
        Ok(())
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
