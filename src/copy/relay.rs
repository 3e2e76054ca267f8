//! The source side of a table copy without per-row work in the tool.
//!
//! The source sends one CopyData message per row. Through tokio-postgres
//! each row is parsed into its own reference-counted buffer and handed over
//! a channel: about 40 % of the tool's CPU on the benchmark. Here the source
//! reader's socket is wrapped in a [`Tap`]: for one `COPY ... TO STDOUT`,
//! tokio-postgres is paused on it (its reads return `Pending`) while the
//! relay writes the query itself, reads the reply in large buffers and copies
//! the rows' bytes straight into the buffers sent to the target, until
//! ReadyForQuery. tokio-postgres then resumes on a connection in the state
//! it left it: idle, in the same transaction.
//!
//! Under TLS the tap sits above the encryption (see [`super::link`]): the
//! relay reads plaintext messages whatever the sslmode.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use futures_util::future::poll_fn;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::counts::copy_tag_rows;
use super::link::{Link, RawSocket};
use crate::error::{Side, SideContext};

struct TapState {
    socket: Mutex<Link>,
    /// The relay owns the reading side.
    diverted: AtomicBool,
    /// A relay was abandoned mid-reply: the connection is unusable.
    broken: AtomicBool,
    /// tokio-postgres' reader and writer, waiting for the relay to finish.
    parked: Mutex<Vec<Waker>>,
}

/// The socket as tokio-postgres sees it.
pub struct Tap(Arc<TapState>);

impl Tap {
    /// The stream under the tap, for starting TLS on it.
    pub(super) fn link(&self) -> &Mutex<Link> {
        &self.0.socket
    }
}

/// Our handle on a tapped connection.
#[derive(Clone)]
pub struct TapHandle(Arc<TapState>);

/// Wrap `socket`: the stream for `connect_raw`, and our handle on it.
pub fn tap(socket: RawSocket) -> (Tap, TapHandle) {
    let state = Arc::new(TapState {
        socket: Mutex::new(Link::Plain(socket)),
        diverted: AtomicBool::new(false),
        broken: AtomicBool::new(false),
        parked: Mutex::new(Vec::new()),
    });
    (Tap(state.clone()), TapHandle(state))
}

fn abandoned() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection abandoned in the middle of a COPY",
    )
}

impl AsyncRead for Tap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0
            .for_tokio_postgres(cx, |socket, cx| Pin::new(socket).poll_read(cx, buf))
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .for_tokio_postgres(cx, |socket, cx| Pin::new(socket).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut socket = crate::sync::lock(&self.0.socket);
        Pin::new(&mut *socket).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut socket = crate::sync::lock(&self.0.socket);
        Pin::new(&mut *socket).poll_shutdown(cx)
    }
}

impl TapState {
    /// A read or write by tokio-postgres: refused once the connection is
    /// broken, and held back while the relay has the connection. (Checked
    /// under the lock: the relay sets `diverted` before it takes the lock to
    /// write its query, so no byte of the reply is read here, and a request
    /// written now would be answered inside the relay's reply.)
    fn for_tokio_postgres<T>(
        &self,
        cx: &mut Context<'_>,
        io: impl FnOnce(&mut Link, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err(abandoned()));
        }
        let mut socket = crate::sync::lock(&self.socket);
        if self.diverted.load(Ordering::SeqCst) {
            self.park(cx);
            return Poll::Pending;
        }
        io(&mut socket, cx)
    }

    fn park(&self, cx: &Context<'_>) {
        let mut parked = crate::sync::lock(&self.parked);
        if !parked.iter().any(|w| w.will_wake(cx.waker())) {
            parked.push(cx.waker().clone());
        }
    }
}

impl TapHandle {
    /// Whether the relay can read this connection: not broken.
    pub fn usable(&self) -> bool {
        !self.0.broken.load(Ordering::SeqCst)
    }

    /// A relay was abandoned: tokio-postgres must see the connection closed.
    pub fn is_broken(&self) -> bool {
        self.0.broken.load(Ordering::SeqCst)
    }

    async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut socket = crate::sync::lock(&self.0.socket);
                Pin::new(&mut *socket).poll_write(cx, data)
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = data.get(n..).unwrap_or_default();
        }
        poll_fn(|cx| {
            let mut socket = crate::sync::lock(&self.0.socket);
            Pin::new(&mut *socket).poll_flush(cx)
        })
        .await
    }

    /// Read what the server has sent into `buf`; 0 at end of stream.
    async fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut socket = crate::sync::lock(&self.0.socket);
            tokio_util::io::poll_read_buf(Pin::new(&mut *socket), cx, buf)
        })
        .await
    }
}

/// The relay's hold on the reading side; given back on drop. Dropped before
/// the reply's end (an error, or the copy being cancelled), it leaves the
/// connection broken: the rest of the reply would confuse tokio-postgres.
struct Diversion<'a> {
    tap: &'a TapHandle,
    complete: bool,
}

impl<'a> Diversion<'a> {
    fn start(tap: &'a TapHandle) -> Diversion<'a> {
        tap.0.diverted.store(true, Ordering::SeqCst);
        Diversion {
            tap,
            complete: false,
        }
    }
}

impl Drop for Diversion<'_> {
    fn drop(&mut self) {
        let state = &self.tap.0;
        if !self.complete {
            state.broken.store(true, Ordering::SeqCst);
        }
        state.diverted.store(false, Ordering::SeqCst);
        for waker in crate::sync::lock(&state.parked).drain(..) {
            waker.wake();
        }
    }
}

/// An ErrorResponse from the source, as tokio-postgres would show it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// SQLSTATE.
    pub code: String,
    pub message: String,
}

impl SourceError {
    /// Fields of an ErrorResponse body: (type, value) pairs, NUL-terminated.
    fn parse(body: &[u8]) -> SourceError {
        let mut code = String::new();
        let mut message = String::new();
        let mut detail = String::new();
        let mut rest = body;
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            let value = String::from_utf8_lossy(tail.get(..end).unwrap_or_default()).into_owned();
            match kind {
                b'C' => code = value,
                b'M' => message = value,
                b'D' => detail = value,
                _ => {}
            }
            rest = tail.get(end + 1..).unwrap_or_default();
        }
        if !detail.is_empty() {
            message = format!("{message} ({detail})");
        }
        SourceError { code, message }
    }
}

/// Run `sql` (a `COPY ... TO STDOUT`) on the tapped source connection and
/// send its data into `sink` in buffers of about `chunk` bytes, calling
/// `sent` with each buffer's size. Returns the bytes relayed and the row
/// count the source reported in its CommandComplete. The caller
/// makes sure tokio-postgres has no request in flight on the connection
/// (its answer would come first): see [`idle`].
pub async fn copy_out<S>(
    tap: &TapHandle,
    sql: &str,
    chunk: usize,
    sink: &mut Pin<&mut S>,
    sent: impl Fn(u64),
) -> anyhow::Result<(u64, u64)>
where
    S: futures_util::Sink<bytes::Bytes, Error = tokio_postgres::Error>,
{
    let mut diversion = Diversion::start(tap);
    // Query: 'Q', length (itself included), the text, NUL.
    let mut query = Vec::with_capacity(sql.len() + 6);
    query.push(b'Q');
    query.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    query.extend_from_slice(sql.as_bytes());
    query.push(0);
    tap.write_all(&query).await?;
    crate::failpoint!("copy-sent");

    let mut input = BytesMut::with_capacity(256 * 1024);
    let mut output = BytesMut::with_capacity(chunk);
    let mut total = 0u64;
    let mut error: Option<SourceError> = None;
    let mut rows: Option<u64> = None;
    // Bytes of a CopyData message still to come: its body is forwarded as
    // it arrives, never held whole, so memory stays flat whatever the size
    // of one row (COPY FROM reads a byte stream: rows may span messages).
    let mut data_left = 0usize;
    'reply: loop {
        if data_left > 0 {
            let n = data_left.min(input.len());
            if error.is_none() {
                output.extend_from_slice(input.get(..n).unwrap_or_default());
            }
            input.advance(n);
            data_left -= n;
        }
        // Each message: a tag, then its length (itself included) in 4 bytes.
        while data_left == 0 {
            let Some(&[tag, l0, l1, l2, l3]) = input.get(..5) else {
                break;
            };
            let len = i32::from_be_bytes([l0, l1, l2, l3]);
            if len < 4 {
                anyhow::bail!("invalid message from the source (length {len})");
            }
            let end = 1 + len as usize;
            if input.len() < end {
                if tag == b'd' {
                    // A row larger than what has arrived: pass on its start.
                    if error.is_none() {
                        output.extend_from_slice(input.get(5..).unwrap_or_default());
                    }
                    data_left = end - input.len();
                    input.clear();
                } else {
                    input.reserve(end - input.len());
                }
                break;
            }
            let body = input.get(5..end).unwrap_or_default();
            match tag {
                b'd' if error.is_none() => output.extend_from_slice(body),
                b'E' => error = Some(SourceError::parse(body)),
                b'N' => tracing::debug!("source notice: {}", SourceError::parse(body)),
                // Once per COPY: "COPY n".
                b'C' => rows = copy_tag_rows(body),
                // CopyOutResponse, CopyDone, ParameterStatus,
                // NotificationResponse, or rows after an error.
                b'H' | b'c' | b'S' | b'A' | b'd' => {}
                b'Z' => {
                    input.advance(end);
                    break 'reply;
                }
                other => anyhow::bail!(
                    "unexpected message '{}' from the source during COPY",
                    other as char
                ),
            }
            input.advance(end);
            if output.len() >= chunk {
                break;
            }
        }
        if output.len() >= chunk {
            let n = output.len() as u64;
            sink.send(output.split().freeze())
                .await
                .on(Side::Target, "writing to the target")?;
            total += n;
            sent(n);
            output.reserve(chunk);
            // Messages may be waiting in the buffer already.
            continue;
        }
        if input.capacity() - input.len() < 16 * 1024 {
            input.reserve(256 * 1024);
        }
        if tap.read_into(&mut input).await? == 0 {
            // A server that ends the session says why first (57P01...).
            return Err(match error {
                Some(e) => e.into(),
                None => io::Error::from(io::ErrorKind::UnexpectedEof).into(),
            });
        }
    }
    // ReadyForQuery: the connection is idle again, in its transaction.
    diversion.complete = true;
    drop(diversion);
    if let Some(e) = error {
        return Err(e.into());
    }
    if !input.is_empty() {
        anyhow::bail!("unexpected bytes from the source after its reply");
    }
    let Some(rows) = rows else {
        anyhow::bail!("the source's COPY did not report how many rows it sent");
    };
    if !output.is_empty() {
        let n = output.len() as u64;
        sink.send(output.freeze())
            .await
            .on(Side::Target, "writing to the target")?;
        total += n;
        sent(n);
    }
    Ok((total, rows))
}

/// Wait until every request tokio-postgres has sent on `client` is answered:
/// a statement's Close, sent when it is dropped, is answered asynchronously.
pub async fn idle(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn error_fields_are_read() {
        let body = b"SERROR\0VERROR\0C57014\0Mcanceling statement due to user request\0\0";
        let e = SourceError::parse(body);
        assert_eq!(e.code, "57014");
        assert_eq!(e.message, "canceling statement due to user request");
        assert!(!Kind::of_sqlstate(&e.code).is_retryable());
        let e = SourceError::parse(b"C57P01\0Mterminating connection\0Dby admin\0\0");
        assert_eq!(e.message, "terminating connection (by admin)");
        assert!(Kind::of_sqlstate(&e.code).is_retryable());
    }
}
