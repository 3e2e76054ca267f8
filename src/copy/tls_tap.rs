//! TLS under the tap. tokio-postgres negotiates TLS on the [`Tap`] as on any
//! stream (the SSLRequest, sslmode's fallbacks to plain text, channel
//! binding), but the handshake runs on the socket inside the tap: the tap
//! stays above the encryption, where the relay reads plaintext messages.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use super::link::{Link, TlsStarter};
use super::relay::Tap;
use crate::sync::lock;

/// The TLS connector tokio-postgres is given for a tapped connection.
pub struct StartTls(pub TlsStarter);

impl TlsConnect<Tap> for StartTls {
    type Stream = TlsTap;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsTap>> + Send>>;

    fn connect(self, tap: Tap) -> Self::Future {
        Box::pin(async move {
            let before = std::mem::replace(&mut *lock(tap.link()), Link::Handshaking);
            let socket = match before {
                Link::Plain(socket) => socket,
                other => {
                    *lock(tap.link()) = other;
                    return Err(io::Error::other(
                        "TLS was already started on this connection",
                    ));
                }
            };
            let tls = self.0.connect(socket).await?;
            *lock(tap.link()) = Link::Tls(Box::new(tls));
            Ok(TlsTap(tap))
        })
    }
}

/// The tap once TLS runs under it: the same stream, plus what SCRAM's
/// channel binding needs from the handshake.
pub struct TlsTap(Tap);

impl TlsStream for TlsTap {
    fn channel_binding(&self) -> ChannelBinding {
        lock(self.0.link()).channel_binding()
    }
}

impl AsyncRead for TlsTap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
