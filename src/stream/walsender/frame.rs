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
        }
    }

    /// The write buffer, to encode messages into before [`Frames::flush`].
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Writes everything encoded so far. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), WalSenderError> {
        while self.out.has_remaining() {
            let n = self
                .io
                .write_buf(&mut self.out)
                .await
                .map_err(|e| WalSenderError::io(&e, &self.server))?;
            if n == 0 {
                return Err(self.closed());
            }
        }
        self.io
            .flush()
            .await
            .map_err(|e| WalSenderError::io(&e, &self.server))
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
        if len < 4 {
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
