//! The byte stream under a tapped source connection (see [`super::relay`]):
//! a plain socket, or TLS over it once negotiated. The relay sits above TLS,
//! so it reads the same plaintext protocol messages either way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A plain socket to the server.
pub enum RawSocket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// What starts TLS on a [`RawSocket`]: the rustls connector of the
/// connection string's sslmode, for one server name.
pub type TlsStarter = <MakeRustlsConnect as MakeTlsConnect<RawSocket>>::TlsConnect;

/// TLS over a [`RawSocket`].
pub type TlsSocket = <TlsStarter as TlsConnect<RawSocket>>::Stream;

/// The connection's stream, plain or encrypted.
pub enum Link {
    Plain(RawSocket),
    Tls(Box<TlsSocket>),
    /// The socket is in the TLS handshake (or was lost in a failed one).
    Handshaking,
}

impl Link {
    /// The server certificate's hash for SCRAM channel binding, when under TLS.
    pub fn channel_binding(&self) -> ChannelBinding {
        match self {
            Link::Tls(s) => s.channel_binding(),
            _ => ChannelBinding::none(),
        }
    }
}

fn handshaking() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "TLS handshake not finished")
}

/// Any of the streams below, for delegating to it.
trait Stream: AsyncRead + AsyncWrite + Unpin {}
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for S {}

impl RawSocket {
    fn stream(&mut self) -> &mut dyn Stream {
        match self {
            RawSocket::Tcp(s) => s,
            RawSocket::Unix(s) => s,
        }
    }
}

impl Link {
    fn stream(&mut self) -> io::Result<&mut dyn Stream> {
        match self {
            Link::Plain(s) => Ok(s.stream()),
            Link::Tls(s) => Ok(s.as_mut()),
            Link::Handshaking => Err(handshaking()),
        }
    }
}

impl AsyncRead for Link {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream()?).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_shutdown(cx)
    }
}

impl AsyncRead for RawSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for RawSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream()).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_shutdown(cx)
    }
}
