//! Opening a tokio-postgres connection from a [`ConnInfo`], with one-line
//! error messages that say which server failed and never show the password.

use std::error::Error as _;
use std::io;

use futures_util::future::poll_fn;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, Connection};

use super::config::{self, Target};
use super::tls::{sslmode, Verify};
use super::ConnInfo;
use crate::error::Kind;

/// What went wrong, in the terms of a connection attempt; [`ConnectError::
/// error_kind`] says it in the crate's terms (retry, exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// No server answered: refused, timed out, unknown host, no socket.
    Unreachable,
    /// The server rejected the credentials (or none were available).
    Auth,
    /// The server is up but the database does not exist.
    NoDatabase,
    /// TLS could not be set up as sslmode demands.
    Tls,
    /// The server, the database or the role has no connection slot left
    /// (SQLSTATE 53300): worth waiting for one.
    NoSlot,
    Other,
}

/// A connection failure: one line, naming the server, without the password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    kind: ConnectErrorKind,
    /// The server's SQLSTATE, when it answered with an error.
    sqlstate: Option<String>,
    message: String,
}

impl ConnectError {
    pub(crate) fn new(kind: ConnectErrorKind, message: impl Into<String>) -> Self {
        ConnectError {
            kind,
            sqlstate: None,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    /// What went wrong in the crate's terms: the server's SQLSTATE when it
    /// sent one (57P03, "starting up", is worth a retry), else the attempt's.
    pub fn error_kind(&self) -> Kind {
        if let Some(code) = &self.sqlstate {
            return Kind::of_sqlstate(code);
        }
        match self.kind {
            ConnectErrorKind::Unreachable | ConnectErrorKind::Tls => Kind::CannotConnect,
            ConnectErrorKind::Auth => Kind::Authentication,
            ConnectErrorKind::NoDatabase => Kind::ObjectMissing,
            ConnectErrorKind::NoSlot => Kind::NoConnectionSlot,
            ConnectErrorKind::Other => Kind::Server,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ConnInfo {
    /// Connects to the first host that accepts us, spawns the connection task
    /// and returns the client. Must run inside a tokio runtime.
    pub async fn connect(&self) -> Result<Client, ConnectError> {
        retry_when_full(|| self.connect_attempt()).await
    }

    async fn connect_attempt(&self) -> Result<Client, ConnectError> {
        self.first_host(|target, tls| async move { self.connect_one(&target, &tls).await })
            .await
    }

    /// libpq's host list: try each host (with its TLS connector) in order
    /// and keep the first that accepts us; the last failure otherwise.
    pub(super) async fn first_host<T, F, Fut>(&self, mut one: F) -> Result<T, ConnectError>
    where
        F: FnMut(Target, tokio_postgres_rustls::MakeRustlsConnect) -> Fut,
        Fut: std::future::Future<Output = Result<T, ConnectError>>,
    {
        let tls = self
            .tls()
            .map_err(|e| ConnectError::new(ConnectErrorKind::Tls, format!("{e:#}")))?;
        let targets = config::try_targets(self)
            .map_err(|e| ConnectError::new(ConnectErrorKind::Other, format!("{e:#}")))?;
        let mut last = None;
        for target in targets {
            match one(target, tls.clone()).await {
                Ok(connected) => return Ok(connected),
                Err(e) => {
                    tracing::debug!("{e}");
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| ConnectError::new(ConnectErrorKind::Other, "no host to connect to")))
    }

    /// The tokio-postgres configuration for `target`, with the password
    /// given or found in the password file for this host; the password is
    /// also returned, for scrubbing error messages.
    pub(super) fn target_config(
        &self,
        target: &Target,
    ) -> Result<(tokio_postgres::Config, Option<String>), ConnectError> {
        let password = match self.get("password") {
            Some(pw) => Some(pw.to_string()),
            None => self.passfile_password(&target.pgpass_host(), target.port),
        };
        let cfg = config::config(self, target, password.as_deref())
            .map_err(|e| ConnectError::new(ConnectErrorKind::Other, format!("{e:#}")))?;
        Ok((cfg, password))
    }

    async fn connect_one(
        &self,
        target: &Target,
        tls: &tokio_postgres_rustls::MakeRustlsConnect,
    ) -> Result<Client, ConnectError> {
        let (mut cfg, password) = self.target_config(target)?;
        let result = match cfg.connect(tls.clone()).await {
            // libpq retries without TLS when a "prefer" handshake fails.
            Err(e) if is_tls(&e) && matches!(sslmode(self), Ok(Some(Verify::Prefer(_)))) => {
                tracing::debug!("TLS failed on {target} ({}), retrying without", chain(&e));
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                cfg.connect(tls.clone()).await
            }
            other => other,
        };
        match result {
            Ok((client, connection)) => {
                tokio::spawn(drive(connection, target.to_string()));
                Ok(client)
            }
            Err(e) => Err(classify(&e, self, target, password.as_deref())),
        }
    }
}

/// Runs the connection until it closes, logging server notices.
pub(super) async fn drive<S, T>(mut connection: Connection<S, T>, server: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::debug!("{server}: {}: {}", notice.severity(), notice.message());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!("connection to {server} ended: {}", chain(&e));
                break;
            }
            None => break,
        }
    }
}

pub(super) fn is_tls(e: &tokio_postgres::Error) -> bool {
    // tokio-postgres' error kinds are private; its Display names the kind.
    e.to_string().starts_with("error performing TLS handshake")
}

/// The error and its causes, as "a: b: c".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// "Connection refused (os error 111)" → "connection refused".
pub(crate) fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

pub(super) fn classify(
    e: &tokio_postgres::Error,
    info: &ConnInfo,
    target: &Target,
    password: Option<&str>,
) -> ConnectError {
    use ConnectErrorKind::*;
    let on = target.to_string();
    let sqlstate = e.code().map(|c| c.code().to_string());
    let (kind, message) = if let Some(db) = e.as_db_error() {
        let code = db.code();
        let kind = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            Auth
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            NoDatabase
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            NoSlot
        } else {
            Other
        };
        (kind, format!("{} on {on}", db.message()))
    } else if is_tls(e) {
        let cause = e.source().map(chain).unwrap_or_default();
        (Tls, format!("TLS error on {on}: {cause}"))
    } else if let Some(io) = e.source().and_then(|s| s.downcast_ref::<io::Error>()) {
        let kind = if e.to_string().starts_with("error connecting") {
            Unreachable
        } else {
            Other
        };
        (
            kind,
            format!("could not connect to {on}: {}", io_message(io)),
        )
    } else {
        let text = chain(e);
        if text.starts_with("timeout") {
            (
                Unreachable,
                format!("could not connect to {on}: timeout expired"),
            )
        } else if text.contains("password missing") {
            (
                Auth,
                format!(
                    "server {on} requested a password for user \"{}\" but none was given (use PGPASSWORD or ~/.pgpass)",
                    info.user()
                ),
            )
        } else if text.starts_with("authentication error") {
            (
                Auth,
                format!(
                    "authentication failed for user \"{}\" on {on}: {text}",
                    info.user()
                ),
            )
        } else {
            (Other, format!("could not connect to {on}: {text}"))
        }
    };
    ConnectError {
        sqlstate,
        ..ConnectError::new(kind, scrub(message, password))
    }
}

/// Connection slots free up as other sessions end (ours among them, when a
/// pool hands a connection back to the server), and a server starting up
/// soon accepts connections: a retryable refusal is waited out like a
/// broken link, with a doubling delay, before giving up. (A server that
/// does not answer is not: the connection string may be wrong.)
pub(crate) async fn retry_when_full<T, F, Fut>(mut attempt: F) -> Result<T, ConnectError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectError>>,
{
    const ATTEMPTS: u32 = 8;
    let mut delay = crate::retry::base_delay();
    let mut left = ATTEMPTS;
    loop {
        left -= 1;
        match attempt().await {
            Err(e) if e.error_kind().is_retryable() && left > 0 => {
                tracing::warn!("{e}: retrying in {delay:?} ({left} more attempts)");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(30));
            }
            other => return other,
        }
    }
}

/// Belt and braces: no server or library message should echo the password,
/// but if one ever does, it must not reach a log.
pub(crate) fn scrub(message: String, password: Option<&str>) -> String {
    match password {
        Some(pw) if pw.len() >= 3 && message.contains(pw) => message.replace(pw, "****"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(kind: ConnectErrorKind, sqlstate: Option<&str>) -> ConnectError {
        ConnectError {
            sqlstate: sqlstate.map(str::to_string),
            ..ConnectError::new(kind, "refused")
        }
    }

    #[test]
    fn a_full_or_starting_server_is_waited_for_an_absent_one_is_not() {
        let retried = |e: ConnectError| e.error_kind().is_retryable();
        assert!(retried(refused(ConnectErrorKind::NoSlot, Some("53300"))));
        assert!(retried(refused(ConnectErrorKind::Other, Some("57P03"))));
        assert!(!retried(refused(ConnectErrorKind::Unreachable, None)));
        assert!(!retried(refused(ConnectErrorKind::Tls, None)));
        assert!(!retried(refused(ConnectErrorKind::Auth, Some("28P01"))));
        assert!(!retried(refused(
            ConnectErrorKind::NoDatabase,
            Some("3D000")
        )));
    }

    /// "the database system is starting up" (57P03) is retried until the
    /// server lets us in; a refused password is answered at once.
    #[tokio::test]
    async fn connecting_retries_what_is_retryable_only() {
        // SAFETY: nextest runs each test in its own process.
        unsafe { std::env::set_var("PGCOPYDB_RETRY_DELAY_MS", "1") };
        let mut attempts = 0;
        let result = retry_when_full(|| {
            attempts += 1;
            let n = attempts;
            async move {
                match n {
                    1 | 2 => Err(refused(ConnectErrorKind::Other, Some("57P03"))),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
        let mut attempts = 0;
        let result: Result<(), _> = retry_when_full(|| {
            attempts += 1;
            async { Err(refused(ConnectErrorKind::Auth, Some("28P01"))) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(attempts, 1);
    }
}
