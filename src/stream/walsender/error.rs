//! The one error type of the replication connection: one line, naming the
//! server, with the SQLSTATE when the server sent one, never the password.

use crate::conninfo::{ConnectError, ConnectErrorKind};

/// What went wrong, for callers that react differently (retry, exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalSenderErrorKind {
    /// No server answered (refused, timed out, unknown host, no socket).
    Unreachable,
    /// The server rejected the credentials, or none were available.
    Auth,
    /// TLS could not be set up as sslmode demands.
    Tls,
    /// The server answered a command with an error (see [`WalSenderError::sqlstate`]).
    Server,
    /// The connection broke, or the server closed it.
    Closed,
    /// The server sent something this client does not understand, or the
    /// caller asked for something impossible (a bad slot name...).
    Protocol,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WalSenderError {
    kind: WalSenderErrorKind,
    sqlstate: Option<String>,
    message: String,
}

impl WalSenderError {
    pub(crate) fn new(kind: WalSenderErrorKind, message: impl Into<String>) -> Self {
        WalSenderError {
            kind,
            sqlstate: None,
            message: one_line(&message.into()),
        }
    }

    /// An ErrorResponse: "<message> (SQLSTATE <code>) on <server>".
    pub(crate) fn server(sqlstate: &str, message: &str, server: &str) -> Self {
        // Authentication failures come as server errors (class 28).
        let kind = if sqlstate.starts_with("28") {
            WalSenderErrorKind::Auth
        } else {
            WalSenderErrorKind::Server
        };
        WalSenderError {
            kind,
            sqlstate: Some(sqlstate.to_string()),
            message: one_line(&format!("{message} (SQLSTATE {sqlstate}) on {server}")),
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(WalSenderErrorKind::Protocol, message)
    }

    pub(crate) fn io(e: &std::io::Error, server: &str) -> Self {
        Self::new(
            WalSenderErrorKind::Closed,
            format!(
                "replication connection to {server} lost: {}",
                crate::conninfo::io_message(e)
            ),
        )
    }

    pub fn kind(&self) -> WalSenderErrorKind {
        self.kind
    }

    /// The five-character SQLSTATE of a server error (e.g. `42710` for a slot
    /// that already exists, `55006` for one in use).
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error as the user sees it: a source failure (exit code 6), of
    /// the kind that says whether it is worth a retry (a broken link, a
    /// server shutting down) or not.
    pub fn into_failure(self) -> crate::error::Failure {
        crate::error::Error::new(self.error_kind(), crate::error::Side::Source, self.message)
    }

    /// The kind of failure this is (see [`Self::into_failure`]); also how
    /// [`crate::error::Error::classify`] reads one left in an error chain.
    pub fn error_kind(&self) -> crate::error::Kind {
        use crate::error::Kind;
        match self.kind {
            WalSenderErrorKind::Unreachable | WalSenderErrorKind::Tls => Kind::CannotConnect,
            WalSenderErrorKind::Auth => Kind::Authentication,
            WalSenderErrorKind::Closed => Kind::ConnectionLost,
            WalSenderErrorKind::Server => self
                .sqlstate
                .as_deref()
                .map_or(Kind::Server, Kind::of_sqlstate),
            WalSenderErrorKind::Protocol => Kind::Server,
        }
    }

    /// The same error with its message passed through `f` (to scrub a password).
    pub(crate) fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        self.message = f(self.message);
        self
    }
}

impl From<ConnectError> for WalSenderError {
    fn from(e: ConnectError) -> Self {
        let kind = match e.kind() {
            ConnectErrorKind::Unreachable => WalSenderErrorKind::Unreachable,
            ConnectErrorKind::Auth => WalSenderErrorKind::Auth,
            ConnectErrorKind::Tls => WalSenderErrorKind::Tls,
            _ => WalSenderErrorKind::Protocol,
        };
        WalSenderError::new(kind, e.message())
    }
}

/// Server messages may span lines (DETAIL, HINT): the user gets one.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitCode, Kind};

    #[test]
    fn a_lost_link_or_a_shutdown_is_retryable_a_refusal_is_not() {
        let closed = WalSenderError::new(WalSenderErrorKind::Closed, "lost");
        let shutdown = WalSenderError::server("57P01", "terminating connection", "s");
        let exists = WalSenderError::server("42710", "slot exists", "s");
        for (e, retryable) in [(closed, true), (shutdown, true), (exists, false)] {
            let f = e.into_failure();
            assert_eq!(f.is_retryable(), retryable, "{f:?}");
            assert_eq!(f.exit_code(), ExitCode::Source);
        }
        let auth = WalSenderError::server("28P01", "password", "s").into_failure();
        assert_eq!(auth.kind, Kind::Authentication);
    }

    #[test]
    fn a_lost_link_left_in_an_error_chain_is_still_a_lost_link_of_the_source() {
        let closed = WalSenderError::new(WalSenderErrorKind::Closed, "lost");
        let chained = anyhow::Error::new(closed).context("streaming from slot pgcopydb");
        let f = crate::error::Error::classify(&chained);
        assert_eq!(f.kind, Kind::ConnectionLost);
        assert!(f.is_retryable());
        assert_eq!(f.exit_code(), ExitCode::Source);
        let auth = WalSenderError::server("28P01", "password", "s").into_failure();
        assert_eq!(auth.kind, Kind::Authentication);
    }
}
