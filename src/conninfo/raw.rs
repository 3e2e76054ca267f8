//! Connection parameters for clients that speak the protocol themselves
//! (the replication connection, `stream::walsender`): one host at a time,
//! resolved exactly as [`ConnInfo::connect`] resolves it (password file per
//! host, connect_timeout, keepalives, sslmode, unix sockets), with the
//! socket opened the way `connect_tapped` opens it.

use std::fmt;

use tokio_postgres::config::SslMode;
use tokio_postgres::Config;

use super::config::{self, Target};
use super::connect::{io_message, ConnectError, ConnectErrorKind};
use super::tapped::{open_socket, tls_domain};
use super::ConnInfo;
use crate::copy::link::RawSocket;

/// One host of a connection string, ready to be connected to.
pub struct RawTarget {
    cfg: Config,
    target: Target,
    password: Option<String>,
}

impl ConnInfo {
    /// The hosts to try, in order, each with its own password (libpq looks
    /// the password file up per host).
    pub fn raw_targets(&self) -> Result<Vec<RawTarget>, ConnectError> {
        let targets = config::try_targets(self)
            .map_err(|e| ConnectError::new(ConnectErrorKind::Other, format!("{e:#}")))?;
        targets
            .into_iter()
            .map(|target| {
                let (cfg, password) = self.target_config(&target)?;
                Ok(RawTarget {
                    cfg,
                    target,
                    password,
                })
            })
            .collect()
    }
}

impl RawTarget {
    /// Opens the socket (TCP with keepalives and tcp_user_timeout, or the
    /// unix socket), within connect_timeout.
    pub async fn open(&self) -> Result<RawSocket, ConnectError> {
        open_socket(&self.cfg, &self.target).await.map_err(|e| {
            ConnectError::new(
                ConnectErrorKind::Unreachable,
                format!("could not connect to {}: {}", self.target, io_message(&e)),
            )
        })
    }

    /// user, dbname, application_name, options, connect_timeout...
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Disable, Prefer (fall back to plain text) or Require; always Disable
    /// over a unix socket, as with libpq.
    pub fn ssl_mode(&self) -> SslMode {
        self.cfg.get_ssl_mode()
    }

    /// The password for this host, from the string or the password file.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The name the server certificate is checked against.
    pub fn server_name(&self) -> String {
        tls_domain(&self.target)
    }

    /// Scrub the password out of a message, should one ever echo it.
    pub fn scrub(&self, message: String) -> String {
        super::connect::scrub(message, self.password())
    }
}

/// "host:port" or "/socket/dir:port".
impl fmt::Display for RawTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.fmt(f)
    }
}
