//! Connections over a socket we open ourselves and keep a handle on, for the
//! COPY relay (see `copy::relay`). Same libpq semantics as
//! [`ConnInfo::connect`], whose host loop they share: several hosts,
//! target_session_attrs, connect_timeout, keepalives, tcp_user_timeout, the
//! password file, every sslmode (TLS runs under the tap: `copy::tls_tap`).

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{CancelToken, Client, Config, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::Target;
use super::connect::{classify, drive, is_tls, ConnectError, ConnectErrorKind};
use super::ConnInfo;
use crate::copy::link::RawSocket;
use crate::copy::relay::{tap, TapHandle};
use crate::copy::tls_tap::StartTls;

/// Where a tapped connection goes: enough to open another socket to the
/// same server, for a cancel request.
#[derive(Clone)]
pub struct Endpoint {
    cfg: Config,
    target: Target,
}

impl Endpoint {
    /// Cancel the query running on the connection `token` belongs to.
    pub async fn cancel(&self, token: &CancelToken, tls: &MakeRustlsConnect) -> anyhow::Result<()> {
        let socket = open_socket(&self.cfg, &self.target).await?;
        let mut make = tls.clone();
        let connector =
            MakeTlsConnect::<RawSocket>::make_tls_connect(&mut make, &tls_domain(&self.target))?;
        token.cancel_query_raw(socket, connector).await?;
        Ok(())
    }
}

impl ConnInfo {
    /// Connect over a tapped socket: the first host that accepts us, as
    /// [`ConnInfo::connect`] would choose it.
    pub async fn connect_tapped(&self) -> Result<(Client, TapHandle, Endpoint), ConnectError> {
        super::connect::retry_when_full(|| {
            self.first_host(|target, tls| async move { self.connect_tapped_to(target, &tls).await })
        })
        .await
    }

    async fn connect_tapped_to(
        &self,
        target: Target,
        tls: &MakeRustlsConnect,
    ) -> Result<(Client, TapHandle, Endpoint), ConnectError> {
        let (mut cfg, password) = self.target_config(&target)?;
        let result = match connect_once(&cfg, &target, tls).await {
            // libpq retries without TLS when a "prefer" handshake fails.
            Err(Failed::Postgres(e)) if is_tls(&e) && cfg.get_ssl_mode() == SslMode::Prefer => {
                tracing::debug!("TLS failed on {target}, retrying without");
                cfg.ssl_mode(SslMode::Disable);
                connect_once(&cfg, &target, tls).await
            }
            other => other,
        };
        let (client, handle) = match result {
            Ok(connected) => connected,
            Err(Failed::Socket(e)) => {
                return Err(ConnectError::new(
                    ConnectErrorKind::Unreachable,
                    format!(
                        "could not connect to {target}: {}",
                        super::connect::io_message(&e)
                    ),
                ))
            }
            Err(Failed::Postgres(e)) => {
                return Err(classify(&e, self, &target, password.as_deref()))
            }
        };
        // tokio-postgres checks target_session_attrs only on the sockets it
        // opens; the same check, with the same words, for ours.
        if let Some(refusal) = session_attrs_refusal(&client, cfg.get_target_session_attrs()).await
        {
            return Err(ConnectError::new(
                ConnectErrorKind::Unreachable,
                format!("could not connect to {target}: {refusal}"),
            ));
        }
        Ok((client, handle, Endpoint { cfg, target }))
    }
}

/// Why the server does not suit target_session_attrs, if it does not.
async fn session_attrs_refusal(client: &Client, wanted: TargetSessionAttrs) -> Option<String> {
    if wanted == TargetSessionAttrs::Any {
        return None;
    }
    let messages = match client.simple_query("SHOW transaction_read_only").await {
        Ok(messages) => messages,
        Err(e) => return Some(e.to_string()),
    };
    let read_only = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.try_get(0).ok().flatten().map(|v| v == "on"),
        _ => None,
    });
    match (wanted, read_only) {
        (TargetSessionAttrs::ReadWrite, Some(true)) => {
            Some("database does not allow writes".into())
        }
        (TargetSessionAttrs::ReadOnly, Some(false)) => Some("database is not read only".into()),
        _ => None,
    }
}

enum Failed {
    Socket(io::Error),
    Postgres(tokio_postgres::Error),
}

async fn connect_once(
    cfg: &Config,
    target: &Target,
    tls: &MakeRustlsConnect,
) -> Result<(Client, TapHandle), Failed> {
    let socket = open_socket(cfg, target).await.map_err(Failed::Socket)?;
    let (stream, handle) = tap(socket);
    let mut make = tls.clone();
    let starter = MakeTlsConnect::<RawSocket>::make_tls_connect(&mut make, &tls_domain(target))
        .map_err(|e| Failed::Socket(io::Error::other(e)))?;
    let (client, connection) = cfg
        .connect_raw(stream, StartTls(starter))
        .await
        .map_err(Failed::Postgres)?;
    tokio::spawn(drive(connection, target.to_string()));
    Ok((client, handle))
}

/// The name the server's certificate is checked against.
pub(super) fn tls_domain(target: &Target) -> String {
    target
        .host
        .clone()
        .or_else(|| target.hostaddr.clone())
        .unwrap_or_default()
}

/// Open the socket as tokio-postgres would for this single-host config.
pub(super) async fn open_socket(cfg: &Config, target: &Target) -> io::Result<RawSocket> {
    let timeout = cfg.get_connect_timeout().copied();
    let unix_dir = target
        .host
        .as_deref()
        .filter(|h| h.starts_with('/') && target.hostaddr.is_none());
    if let Some(dir) = unix_dir {
        let path = format!("{dir}/.s.PGSQL.{}", target.port);
        let socket = within(timeout, UnixStream::connect(path)).await?;
        return Ok(RawSocket::Unix(socket));
    }
    let addresses: Vec<std::net::SocketAddr> = match &target.hostaddr {
        Some(addr) => {
            let ip: std::net::IpAddr = addr
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad hostaddr"))?;
            vec![(ip, target.port).into()]
        }
        None => {
            let host = target.host.as_deref().unwrap_or("localhost");
            tokio::net::lookup_host((host, target.port))
                .await?
                .collect()
        }
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for the host");
    for address in addresses {
        match within(timeout, TcpStream::connect(address)).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let sock = SockRef::from(&stream);
                if let Some(t) = cfg.get_tcp_user_timeout() {
                    sock.set_tcp_user_timeout(Some(*t))?;
                }
                if cfg.get_keepalives() {
                    let mut keepalive = TcpKeepalive::new().with_time(cfg.get_keepalives_idle());
                    if let Some(i) = cfg.get_keepalives_interval() {
                        keepalive = keepalive.with_interval(i);
                    }
                    if let Some(n) = cfg.get_keepalives_retries() {
                        keepalive = keepalive.with_retries(n);
                    }
                    sock.set_tcp_keepalive(&keepalive)?;
                }
                return Ok(RawSocket::Tcp(stream));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn within<T>(
    timeout: Option<Duration>,
    connect: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        Some(t) => tokio::time::timeout(t, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timeout expired"))?,
        None => connect.await,
    }
}
