//! One error type for the crate: what went wrong ([`Kind`]), on which side
//! ([`Side`]), and one line for the user. Whether a failure is worth a retry
//! ([`Error::is_retryable`]) and the exit code it makes
//! ([`Error::exit_code`]) are decided here and nowhere else, and so is the
//! meaning of every SQLSTATE and I/O error ([`Kind::of_sqlstate`],
//! [`Kind::of_io`]).
//!
//! Internal plumbing uses `anyhow` for its context chains; the kind survives
//! them: [`Error::classify`] finds it in any chain (an [`Error`] raised
//! somewhere in it, else the server or socket error at its root, on the side
//! an [`OnSide`] context names). Failed units are kept as [`Error`] values,
//! so the summary and the exit code say what failed (see README, Exit codes).

use std::fmt;
use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Exit codes, compatible with the original pgcopydb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    BadArgs = 1,
    BadConfig = 2,
    BadState = 3,
    Pgsql = 4,
    Source = 6,
    Target = 7,
    Internal = 12,
}

/// Where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
    /// This machine: arguments, the work directory, the tools, the tool
    /// itself; or a server error nothing attributed to either side.
    Local,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
            Side::Local => "local",
        })
    }
}

impl From<crate::connections::Side> for Side {
    fn from(side: crate::connections::Side) -> Side {
        match side {
            crate::connections::Side::Source => Side::Source,
            crate::connections::Side::Target => Side::Target,
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad command-line arguments or connection string.
    BadArgs,
    /// A bad setup: no suitable pg_dump/pg_restore, an unreadable filters
    /// file, a tool that cannot be run.
    BadConfig,
    /// The work directory is in use, holds an unfinished or foreign run, or
    /// nothing consistent to resume from.
    BadState,
    /// The run was stopped (signal, or a query cancelled by the stop).
    Interrupted,
    /// No connection could be opened: refused, timed out, unknown host, TLS.
    CannotConnect,
    /// A link broke, or the server is shutting down, restarting or starting
    /// up (SQLSTATE class 08, 57P01-57P03, 57P05, socket errors).
    ConnectionLost,
    /// No connection slot left (53300): others free up as sessions end.
    NoConnectionSlot,
    /// Credentials refused (class 28).
    Authentication,
    /// Not allowed (42501, and row-level security refusing a read).
    PermissionDenied,
    /// A database, schema, table, column, type or function is not there
    /// (3D000, 3F000, 42P01, 42703, 42704, 42883, 57P04).
    ObjectMissing,
    /// Deadlock, serialization failure or a lock not granted (40P01, 40001,
    /// 55P03): another transaction was in the way.
    Conflict,
    /// The server ran out of something: disk, memory, a limit (53, 54).
    Resources,
    /// The server refused the statement or the data: invalid or
    /// incompatible values, constraints, definitions (classes 22, 23, 42,
    /// 0A, 2B, 40002).
    Rejected,
    /// Any other error a server reported, or a failure of a server-side
    /// step as a whole (pg_dump, pg_restore): a source or target problem.
    Server,
    /// Raised by code on the server (RAISE in a function or trigger,
    /// class P0): what it means is that code's business.
    Raised,
    /// The two sides differ (row counts of a copy, compare, --verify).
    Differs,
    /// A bug, or a local failure (file system) the tool did not expect.
    Internal,
}

impl Kind {
    const ALL: [Kind; 17] = [
        Kind::BadArgs,
        Kind::BadConfig,
        Kind::BadState,
        Kind::Interrupted,
        Kind::CannotConnect,
        Kind::ConnectionLost,
        Kind::NoConnectionSlot,
        Kind::Authentication,
        Kind::PermissionDenied,
        Kind::ObjectMissing,
        Kind::Conflict,
        Kind::Resources,
        Kind::Rejected,
        Kind::Server,
        Kind::Raised,
        Kind::Differs,
        Kind::Internal,
    ];

    /// As the summary prints and saves it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::BadArgs => "bad arguments",
            Kind::BadConfig => "bad configuration",
            Kind::BadState => "bad state",
            Kind::Interrupted => "interrupted",
            Kind::CannotConnect => "cannot connect",
            Kind::ConnectionLost => "connection lost",
            Kind::NoConnectionSlot => "no connection slot",
            Kind::Authentication => "authentication",
            Kind::PermissionDenied => "permission denied",
            Kind::ObjectMissing => "object missing",
            Kind::Conflict => "conflict",
            Kind::Resources => "out of resources",
            Kind::Rejected => "rejected",
            Kind::Server => "server error",
            Kind::Raised => "raised by server code",
            Kind::Differs => "differences",
            Kind::Internal => "internal",
        }
    }

    /// Worth trying again as is: the link may come back, a slot free up,
    /// the other transaction end.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Kind::ConnectionLost | Kind::NoConnectionSlot | Kind::Conflict
        )
    }

    /// Whether it describes the state of a server (and so makes the exit
    /// code of the side it happened on).
    fn is_about_a_server(self) -> bool {
        matches!(
            self,
            Kind::CannotConnect
                | Kind::ConnectionLost
                | Kind::NoConnectionSlot
                | Kind::Authentication
                | Kind::PermissionDenied
                | Kind::ObjectMissing
                | Kind::Conflict
                | Kind::Resources
                | Kind::Rejected
                | Kind::Server
        )
    }

    /// The one table of what each SQLSTATE means here.
    pub fn of_sqlstate(code: &str) -> Kind {
        match code {
            // Our own cancellation of queries, when the run stops.
            "57014" => Kind::Interrupted,
            "57P01" | "57P02" | "57P03" | "57P05" => Kind::ConnectionLost,
            "57P04" => Kind::ObjectMissing,
            "53300" => Kind::NoConnectionSlot,
            "40001" | "40P01" | "55P03" => Kind::Conflict,
            "42501" => Kind::PermissionDenied,
            "3D000" | "3F000" | "42P01" | "42703" | "42704" | "42883" => Kind::ObjectMissing,
            _ => match code.get(..2).unwrap_or_default() {
                "08" => Kind::ConnectionLost,
                "28" => Kind::Authentication,
                "53" | "54" => Kind::Resources,
                "22" | "23" | "42" | "0A" | "2B" | "40" => Kind::Rejected,
                "P0" => Kind::Raised,
                _ => Kind::Server,
            },
        }
    }

    /// The one table of what an I/O error means here: the socket ones say
    /// a link broke or never opened; any other is local.
    pub fn of_io(e: &io::Error) -> Kind {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::NotConnected
            | K::TimedOut => Kind::ConnectionLost,
            K::ConnectionRefused
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable => Kind::CannotConnect,
            _ => Kind::Internal,
        }
    }

    /// A tokio-postgres error: its SQLSTATE, else what happened to the link.
    pub fn of_postgres(e: &tokio_postgres::Error) -> Kind {
        if let Some(code) = e.code() {
            return Kind::of_sqlstate(code.code());
        }
        if e.is_closed() {
            return Kind::ConnectionLost;
        }
        match std::error::Error::source(e).and_then(|s| s.downcast_ref::<io::Error>()) {
            Some(io) => Kind::of_io(io),
            None => Kind::Internal,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .unwrap_or(Kind::Internal))
    }
}

/// A failure: its kind, its side, and one line for the user.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[serde(from = "Saved")]
#[error("{message}")]
pub struct Error {
    pub kind: Kind,
    pub side: Side,
    pub message: String,
}

/// A failure as a summary.json saved it: with its kind and side, or as
/// the bare message of the runs before kinds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Saved {
    Classified {
        kind: Kind,
        side: Side,
        message: String,
    },
    Message(String),
}

impl From<Saved> for Error {
    fn from(saved: Saved) -> Error {
        match saved {
            Saved::Classified {
                kind,
                side,
                message,
            } => Error::new(kind, side, message),
            Saved::Message(message) => Error::internal(message),
        }
    }
}

/// The user-message form of [`Error`], under the name the code has used
/// since before kinds: `Failure::state(...)`, `Failure::target(...)`.
pub type Failure = Error;

impl Error {
    pub fn new(kind: Kind, side: Side, message: impl Into<String>) -> Self {
        Error {
            kind,
            side,
            message: message.into(),
        }
    }
    pub fn args(message: impl Into<String>) -> Self {
        Self::new(Kind::BadArgs, Side::Local, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::BadConfig, Side::Local, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(Kind::BadState, Side::Local, message)
    }
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::new(Kind::Interrupted, Side::Local, message)
    }
    pub fn differs(message: impl Into<String>) -> Self {
        Self::new(Kind::Differs, Side::Local, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, Side::Local, message)
    }
    /// A problem of the source as a whole (a failed pg_dump, ...).
    pub fn source(message: impl Into<String>) -> Self {
        Self::new(Kind::Server, Side::Source, message)
    }
    /// A problem of the target as a whole (tables already there, a failed
    /// pg_restore, ...).
    pub fn target(message: impl Into<String>) -> Self {
        Self::new(Kind::Server, Side::Target, message)
    }
    /// A statement that failed on `side`, said in our words: the kind stays
    /// the server error's own, so that a link lost mid-statement is still
    /// retried (a restart is not a refusal).
    pub fn of_postgres(side: Side, e: &tokio_postgres::Error, message: impl Into<String>) -> Self {
        let kind = match Kind::of_postgres(e) {
            Kind::Internal => Kind::Server,
            kind => kind,
        };
        Self::new(kind, side, message)
    }

    /// An error known only by the exit code it must make (a run of several
    /// databases, where each database's failures decided its own).
    pub fn exiting(code: ExitCode, message: impl Into<String>) -> Self {
        let (kind, side) = match code {
            ExitCode::BadArgs => (Kind::BadArgs, Side::Local),
            ExitCode::BadConfig => (Kind::BadConfig, Side::Local),
            ExitCode::BadState => (Kind::BadState, Side::Local),
            ExitCode::Pgsql => (Kind::Server, Side::Local),
            ExitCode::Source => (Kind::Server, Side::Source),
            ExitCode::Target => (Kind::Server, Side::Target),
            ExitCode::Ok | ExitCode::Internal => (Kind::Internal, Side::Local),
        };
        Self::new(kind, side, message)
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            Kind::BadArgs => ExitCode::BadArgs,
            Kind::BadConfig => ExitCode::BadConfig,
            Kind::BadState | Kind::Interrupted => ExitCode::BadState,
            k if k.is_about_a_server() => match self.side {
                Side::Source => ExitCode::Source,
                Side::Target => ExitCode::Target,
                Side::Local => ExitCode::Pgsql,
            },
            _ => ExitCode::Internal,
        }
    }

    /// The kind and side of any error chain, with the chain's whole text as
    /// the message: the outermost [`Error`] in it decides (it was
    /// classified where it was raised); else the server, relay or socket
    /// error at its root gives the kind. The side is the error's own, else
    /// that of the innermost [`OnSide`] above it, else [`Side::Local`].
    pub fn classify(err: &anyhow::Error) -> Error {
        let mut marked = None;
        let mut found = err.downcast_ref::<Error>().map(|e| (e.kind, e.side));
        for cause in err.chain() {
            if found.is_some() {
                break;
            }
            if let Some(on) = cause.downcast_ref::<OnSide>() {
                marked = Some(on.side);
            } else if let Some(e) = cause.downcast_ref::<Error>() {
                found = Some((e.kind, e.side));
            } else if let Some((kind, side)) = root_cause_kind(cause) {
                found = Some((kind, side.unwrap_or(Side::Local)));
            }
        }
        let (kind, side) = found.unwrap_or((Kind::Internal, Side::Local));
        let side = match side {
            Side::Local => marked.unwrap_or(Side::Local),
            known => known,
        };
        Error::new(kind, side, format!("{err:#}"))
    }

    /// This error, said to have happened on `side` when nothing in it said
    /// where.
    pub fn or_on(mut self, side: Side) -> Error {
        if self.side == Side::Local && self.kind.is_about_a_server() {
            self.side = side;
        }
        self
    }
}

/// The kind (and side, when the error type knows it) of one link of a chain.
fn root_cause_kind(cause: &(dyn std::error::Error + 'static)) -> Option<(Kind, Option<Side>)> {
    if let Some(e) = cause.downcast_ref::<tokio_postgres::Error>() {
        return Some((Kind::of_postgres(e), None));
    }
    if let Some(e) = cause.downcast_ref::<tokio_postgres::error::DbError>() {
        return Some((Kind::of_sqlstate(e.code().code()), None));
    }
    if let Some(e) = cause.downcast_ref::<crate::stream::walsender::WalSenderError>() {
        return Some((e.error_kind(), Some(Side::Source)));
    }
    if let Some(e) = cause.downcast_ref::<crate::copy::relay::SourceError>() {
        return Some((Kind::of_sqlstate(&e.code), Some(Side::Source)));
    }
    if let Some(e) = cause.downcast_ref::<crate::conninfo::ConnectError>() {
        return Some((e.error_kind(), None));
    }
    if cause.is::<crate::copy::counts::RowCountMismatch>() {
        return Some((Kind::Differs, None));
    }
    cause
        .downcast_ref::<io::Error>()
        .map(|e| (Kind::of_io(e), None))
}

/// An error with a note saying which side it happened on, as anyhow's
/// `context` would add the note: see [`SideContext::on`].
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct OnSide {
    pub side: Side,
    what: String,
    #[source]
    cause: anyhow::Error,
}

/// `.on(Side::Target, "writing to the target")`: anyhow's `context`, with
/// the side the error happened on for [`Error::classify`].
pub trait SideContext<T> {
    fn on(self, side: impl Into<Side>, what: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> SideContext<T> for Result<T, E> {
    fn on(self, side: impl Into<Side>, what: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            OnSide {
                side: side.into(),
                what: what.into(),
                cause: e.into(),
            }
            .into()
        })
    }
}

/// A server that answered at the start of the run and no longer does is a
/// lost link, worth waiting for like a broken one: the connection failures
/// of workers are retried where a first connection's are not.
pub fn reached_before(mut err: anyhow::Error) -> anyhow::Error {
    if let Some(e) = err.downcast_mut::<Error>() {
        if e.kind == Kind::CannotConnect {
            e.kind = Kind::ConnectionLost;
        }
    }
    err
}

/// The exit code for any error that ends a command.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    Error::classify(err).exit_code()
}

/// The exit code of a run that ended with these failed units: the code
/// they all share (7 when every failure is on the target, 6 on the source);
/// failures of different codes make 12. Units cancelled by the stop that a
/// failure caused (--fail-fast) do not count, unless nothing else failed.
pub fn exit_code_of_failures(failures: &[Error]) -> ExitCode {
    match (failures.is_empty(), speaker(failures)) {
        (true, _) => ExitCode::Ok,
        (false, Some(f)) => f.exit_code(),
        (false, None) => ExitCode::Internal,
    }
}

/// The error that ends a run whose units failed, with `message`: of the
/// kind and side of the failures when they share their exit code (see
/// [`exit_code_of_failures`]), else internal.
pub fn units_failed(failures: &[Error], message: impl Into<String>) -> Error {
    match speaker(failures) {
        Some(f) => Error::new(f.kind, f.side, message),
        None => Error::internal(message),
    }
}

/// The failure that speaks for all: the first, when every failure that
/// counts has its exit code.
fn speaker(failures: &[Error]) -> Option<&Error> {
    let caused: Vec<&Error> = failures
        .iter()
        .filter(|f| f.kind != Kind::Interrupted)
        .collect();
    let counted = if caused.is_empty() {
        failures.iter().collect()
    } else {
        caused
    };
    let first = counted.first()?;
    counted
        .iter()
        .all(|f| f.exit_code() == first.exit_code())
        .then_some(*first)
}

#[cfg(test)]
mod tests;
