//! The replication connection: a logical walsender client, hand-rolled on
//! `postgres-protocol` over tokio, because tokio-postgres cannot speak the
//! replication sub-protocol (CopyBoth, `CREATE_REPLICATION_SLOT`...).
//!
//! Connection parameters are our libpq-compatible [`ConnInfo`]: the same
//! hosts, unix sockets, password file, connect_timeout, keepalives and
//! sslmode policy as every other connection of the tool.
//!
//! Typical use (`clone --follow`):
//! ```ignore
//! preflight::preflight(&source, &request).await?;      // one-line refusals
//! let sender = WalSender::connect(&source).await?;
//! let held = sender.create_slot_holding_snapshot("pgcopydb", Plugin::Pgoutput).await?;
//! // every COPY and pg_dump reads under held.snapshot_name(); select on
//! // held.lost() meanwhile to learn at once if the snapshot goes away
//! let (sender, slot) = held.release();                  // the snapshot ends here
//! let mut stream = sender
//!     .start_replication("pgcopydb", slot.consistent_point, &options)
//!     .await?
//!     .with_status_interval(Duration::from_secs(10));
//! while let Some(message) = stream.next().await? {
//!     // store the XLogData; once fsynced up to lsn: stream.report(lsn, lsn, applied)
//! }
//! let mut sender = stream.finish().await?;            // CopyDone .. ReadyForQuery
//! sender.drop_slot("pgcopydb", true).await?;           // stream cleanup
//! ```
//!
//! Every method takes the connection by `&mut self` or by value: one command
//! at a time, as the protocol demands. Errors are [`WalSenderError`]: one
//! line naming the server, with the SQLSTATE when the server sent one.

pub(crate) mod backend;
mod error;
pub(crate) mod frame;
mod replication;
mod slot;
mod startup;

use postgres_protocol::message::frontend;

use self::backend::{column_names, data_row, ServerMessage};
use self::frame::Frames;
use self::startup::{encode_error, log_notice, unexpected};
use super::lsn::Lsn;
use crate::conninfo::ConnInfo;

pub use self::error::{WalSenderError, WalSenderErrorKind};
pub use self::replication::{ReplicationMessage, ReplicationStream, XLogData};
pub use self::slot::{ExportedSnapshot, SlotCreated};

/// An open replication connection (`replication=database`), idle between
/// commands.
pub struct WalSender {
    frames: Frames,
    parameters: Vec<(String, String)>,
    backend_pid: i32,
    server_version_num: u32,
    /// A command was sent and its ReadyForQuery not yet read (its future was
    /// dropped half-way): the next command first reads up to it.
    in_command: bool,
}

/// The rows of a simple query, every value as text (NULL is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl QueryResult {
    /// The value of `column` in the first row; an error naming the column
    /// and the command when there is no such row or column.
    pub fn first(&self, column: &str, command: &str) -> Result<Option<&str>, WalSenderError> {
        let index = self.columns.iter().position(|c| c == column);
        match (index, self.rows.first()) {
            (Some(i), Some(row)) => Ok(row.get(i).and_then(|v| v.as_deref())),
            _ => Err(WalSenderError::protocol(format!(
                "{command} returned no {column}"
            ))),
        }
    }

    /// Like [`QueryResult::first`], for a value that may not be NULL.
    pub fn first_required(&self, column: &str, command: &str) -> Result<&str, WalSenderError> {
        self.first(column, command)?
            .ok_or_else(|| WalSenderError::protocol(format!("{command} returned a NULL {column}")))
    }
}

/// What `IDENTIFY_SYSTEM` says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemIdentity {
    /// The cluster's unique system identifier (a u64, as text).
    pub systemid: String,
    pub timeline: u32,
    /// The current WAL flush position.
    pub xlogpos: Lsn,
    /// The database this connection is attached to.
    pub dbname: Option<String>,
}

impl WalSender {
    /// Opens a logical replication connection to the first host of `info`
    /// that accepts one (the role needs the REPLICATION attribute, and
    /// pg_hba.conf must let it into the database).
    pub async fn connect(info: &ConnInfo) -> Result<WalSender, WalSenderError> {
        Self::open(info, true).await
    }

    /// Opens a plain (non-replication) session with the same connection
    /// code: for a client that speaks the extended protocol itself through
    /// [`WalSender::frames`] (the applier's pipeline).
    pub(crate) async fn connect_session(info: &ConnInfo) -> Result<WalSender, WalSenderError> {
        Self::open(info, false).await
    }

    /// The socket, for a caller that encodes and reads messages itself
    /// between commands (nothing of a command of its own may be unread).
    pub(crate) fn frames(&mut self) -> &mut Frames {
        &mut self.frames
    }

    async fn open(info: &ConnInfo, replication: bool) -> Result<WalSender, WalSenderError> {
        let session = startup::connect(info, replication).await?;
        let mut sender = WalSender {
            frames: session.frames,
            parameters: session.parameters,
            backend_pid: session.backend_pid,
            server_version_num: 0,
            in_command: false,
        };
        sender.server_version_num = match sender.parameter("server_version").and_then(version_num) {
            Some(v) => v,
            None => {
                let result = sender.simple_query("SHOW server_version_num").await?;
                let text = result.first_required("server_version_num", "SHOW")?;
                text.trim().parse().map_err(|_| {
                    WalSenderError::protocol(format!("invalid server_version_num {text:?}"))
                })?
            }
        };
        Ok(sender)
    }

    /// The server's version as `server_version_num` prints it (150004).
    pub fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    /// "host:port" (or "/socket/dir:port") of the server.
    pub fn server(&self) -> &str {
        &self.frames.server
    }

    /// The walsender's process id on the server (`pg_stat_replication.pid`,
    /// `pg_replication_slots.active_pid`).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// A parameter the server reported at startup (server_version,
    /// server_encoding, integer_datetimes...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Runs one command (a replication command, or SQL: a logical walsender
    /// accepts both) and returns its rows as text. Commands that start a
    /// COPY are refused: use [`WalSender::start_replication`].
    pub async fn simple_query(&mut self, sql: &str) -> Result<QueryResult, WalSenderError> {
        self.send_query(sql).await?;
        let mut result = QueryResult::default();
        let mut error = None;
        loop {
            let frame = self.frames.read().await?;
            match frame.tag {
                b'T' => result.columns = column_names(frame.body)?,
                b'D' => result.rows.push(data_row(frame.body)?),
                b'C' | b'I' => {}
                b'E' => error = Some(ServerMessage::parse(frame.body)?),
                b'Z' => {
                    self.in_command = false;
                    return match error {
                        Some(e) => Err(e.into_error(self.server())),
                        None => Ok(result),
                    };
                }
                b'W' | b'H' | b'G' => {
                    return Err(WalSenderError::protocol(format!(
                        "{sql:?} started a COPY: only START_REPLICATION may, through start_replication()"
                    )))
                }
                _ => self.other_message(frame.tag, frame.body, "a query")?,
            }
        }
    }

    /// `IDENTIFY_SYSTEM`: the cluster's identifier, timeline, current WAL
    /// flush position and this connection's database.
    pub async fn identify_system(&mut self) -> Result<SystemIdentity, WalSenderError> {
        const CMD: &str = "IDENTIFY_SYSTEM";
        let result = self.simple_query(CMD).await?;
        let timeline = result.first_required("timeline", CMD)?;
        let xlogpos = result.first_required("xlogpos", CMD)?;
        Ok(SystemIdentity {
            systemid: result.first_required("systemid", CMD)?.to_string(),
            timeline: timeline.parse().map_err(|_| {
                WalSenderError::protocol(format!("{CMD} returned timeline {timeline:?}"))
            })?,
            xlogpos: parse_lsn(xlogpos, CMD)?,
            dbname: result.first("dbname", CMD)?.map(str::to_string),
        })
    }

    /// Ends the session politely (Terminate) and closes the socket.
    pub async fn close(mut self) -> Result<(), WalSenderError> {
        frontend::terminate(self.frames.out());
        self.frames.flush().await
    }

    /// Sends `sql` as a simple query, first reading what a dropped command
    /// left unread.
    async fn send_query(&mut self, sql: &str) -> Result<(), WalSenderError> {
        self.frames.flush().await?;
        while self.in_command {
            let frame = self.frames.read().await?;
            if frame.tag == b'Z' {
                self.in_command = false;
            }
        }
        frontend::query(sql, self.frames.out()).map_err(encode_error)?;
        self.in_command = true;
        self.frames.flush().await
    }

    /// Messages any state may see: notices, parameter changes.
    pub(crate) fn other_message(
        &mut self,
        tag: u8,
        body: bytes::Bytes,
        during: &str,
    ) -> Result<(), WalSenderError> {
        match tag {
            b'N' => log_notice(body, self.server()),
            b'S' => {
                let mut r = backend::Reader::new(body, "ParameterStatus");
                self.parameters.push((r.cstr()?, r.cstr()?));
            }
            // NotificationResponse: nobody listens on this connection.
            b'A' => {}
            other => return Err(unexpected(other, during)),
        }
        Ok(())
    }
}

pub(crate) fn parse_lsn(text: &str, command: &str) -> Result<Lsn, WalSenderError> {
    text.parse()
        .map_err(|_| WalSenderError::protocol(format!("{command} returned LSN {text:?}")))
}

/// "15.4 (Debian 15.4-1.pgdg120+1)" → 150004, "9.6.3" → 90603, "16beta1" → 160000.
fn version_num(text: &str) -> Option<u32> {
    let numeric: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u32> = numeric
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [major, ..] if *major >= 10 => Some(major * 10000 + parts.get(1).copied().unwrap_or(0)),
        [major, minor, rest @ ..] => {
            Some(major * 10000 + minor * 100 + rest.first().copied().unwrap_or(0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::version_num;

    #[test]
    fn server_versions_become_numbers() {
        assert_eq!(version_num("15.4 (Debian 15.4-1.pgdg120+1)"), Some(150004));
        assert_eq!(version_num("13.12"), Some(130012));
        assert_eq!(version_num("16beta1"), Some(160000));
        assert_eq!(version_num("9.6.3"), Some(90603));
        assert_eq!(version_num("devel"), None);
    }
}
