//! Opening a replication connection: socket, TLS per sslmode (SSLRequest,
//! then rustls with the policy of `conninfo::tls`), the startup message
//! with `replication=database`, and authentication (trust, cleartext, md5,
//! SCRAM-SHA-256).

use bytes::Bytes;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::frontend;
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{Reader, ServerMessage};
use super::error::{WalSenderError, WalSenderErrorKind};
use super::frame::{Frames, Io};
use crate::conninfo::{ConnInfo, RawTarget};

/// A connection that finished its startup: ready for commands.
pub(crate) struct Session {
    pub frames: Frames,
    /// ParameterStatus values (server_version, server_encoding...).
    pub parameters: Vec<(String, String)>,
    pub backend_pid: i32,
}

/// Connects to the first host of `info` that accepts a replication
/// connection (`replication`), or a plain session (the applier's pipeline).
pub(crate) async fn connect(info: &ConnInfo, replication: bool) -> Result<Session, WalSenderError> {
    let tls = info
        .tls()
        .map_err(|e| WalSenderError::new(WalSenderErrorKind::Tls, format!("{e:#}")))?;
    let mut last = None;
    for target in &info.raw_targets()? {
        match connect_target(target, &tls, replication).await {
            Ok(session) => return Ok(session),
            Err(e) => {
                tracing::debug!("{e}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| WalSenderError::protocol("no host to connect to")))
}

async fn connect_target(
    target: &RawTarget,
    tls: &MakeRustlsConnect,
    replication: bool,
) -> Result<Session, WalSenderError> {
    let attempt = async {
        match target.ssl_mode() {
            SslMode::Disable => handshake(target, tls, SslMode::Disable, replication).await,
            SslMode::Require => handshake(target, tls, SslMode::Require, replication).await,
            // prefer (and allow): libpq retries in plain text when TLS fails.
            _ => match handshake(target, tls, SslMode::Prefer, replication).await {
                Err(e) if e.kind() == WalSenderErrorKind::Tls => {
                    tracing::debug!("{e}; retrying without TLS");
                    handshake(target, tls, SslMode::Disable, replication).await
                }
                other => other,
            },
        }
    };
    // libpq's connect_timeout bounds the whole connection, startup included.
    let result = match target.config().get_connect_timeout() {
        Some(t) => tokio::time::timeout(*t, attempt).await.unwrap_or_else(|_| {
            Err(WalSenderError::new(
                WalSenderErrorKind::Unreachable,
                format!("could not connect to {target}: timeout expired"),
            ))
        }),
        None => attempt.await,
    };
    result.map_err(|e| e.map_message(|m| target.scrub(m)))
}

async fn handshake(
    target: &RawTarget,
    tls: &MakeRustlsConnect,
    ssl: SslMode,
    replication: bool,
) -> Result<Session, WalSenderError> {
    let server = target.to_string();
    let socket: Box<dyn Io> = Box::new(target.open().await?);
    let io = if ssl == SslMode::Disable {
        socket
    } else {
        negotiate_tls(socket, target, tls, ssl).await?
    };
    let mut frames = Frames::new(io, server);
    startup(&mut frames, target, replication).await?;
    finish_startup(frames).await
}

async fn negotiate_tls(
    socket: Box<dyn Io>,
    target: &RawTarget,
    tls: &MakeRustlsConnect,
    ssl: SslMode,
) -> Result<Box<dyn Io>, WalSenderError> {
    let tls_error = |what: String| {
        WalSenderError::new(
            WalSenderErrorKind::Tls,
            format!("TLS error on {target}: {what}"),
        )
    };
    let mut frames = Frames::new(socket, target.to_string());
    frontend::ssl_request(frames.out());
    frames.flush().await?;
    match frames.read_byte().await? {
        b'S' => {
            let socket = frames.into_io()?;
            let mut make = tls.clone();
            let connector =
                MakeTlsConnect::<Box<dyn Io>>::make_tls_connect(&mut make, &target.server_name())
                    .map_err(|e| tls_error(e.to_string()))?;
            let stream = connector
                .connect(socket)
                .await
                .map_err(|e| tls_error(e.to_string()))?;
            Ok(Box::new(stream))
        }
        b'N' if ssl == SslMode::Require => Err(tls_error(
            "the server does not support SSL, but sslmode requires it".into(),
        )),
        b'N' => frames.into_io(),
        other => Err(tls_error(format!(
            "unexpected answer {:?} to the SSL request",
            char::from(other)
        ))),
    }
}

/// Sends the startup message and answers the authentication requests.
async fn startup(
    frames: &mut Frames,
    target: &RawTarget,
    replication: bool,
) -> Result<(), WalSenderError> {
    let cfg = target.config();
    let user = cfg.get_user().unwrap_or_default();
    let mut params = vec![
        ("user", user),
        ("database", cfg.get_dbname().unwrap_or_default()),
        ("client_encoding", "UTF8"),
    ];
    if replication {
        // A logical walsender: replication commands and SQL, in one database.
        params.push(("replication", "database"));
    }
    if let Some(name) = cfg.get_application_name() {
        params.push(("application_name", name));
    }
    if let Some(options) = cfg.get_options() {
        params.push(("options", options));
    }
    frontend::startup_message(params, frames.out()).map_err(encode_error)?;
    frames.flush().await?;

    let server = frames.server.clone();
    let password = || {
        target.password().ok_or_else(|| {
            WalSenderError::new(
                WalSenderErrorKind::Auth,
                format!(
                    "server {server} requested a password for user \"{user}\" but none was given (use PGPASSWORD or ~/.pgpass)"
                ),
            )
        })
    };
    let mut scram: Option<sasl::ScramSha256> = None;
    loop {
        let frame = frames.read().await?;
        match frame.tag {
            b'R' => {
                let mut r = Reader::new(frame.body, "Authentication");
                match r.i32()? {
                    0 => return Ok(()),
                    3 => {
                        frontend::password_message(password()?.as_bytes(), frames.out())
                            .map_err(encode_error)?;
                    }
                    5 => {
                        let salt = r.bytes(4)?;
                        let salt: [u8; 4] = salt.as_ref().try_into().map_err(|_| {
                            WalSenderError::protocol("invalid md5 salt from the server")
                        })?;
                        let hash = md5_hash(user.as_bytes(), password()?.as_bytes(), salt);
                        frontend::password_message(hash.as_bytes(), frames.out())
                            .map_err(encode_error)?;
                    }
                    10 => {
                        let (mechanism, state) = start_scram(r, password()?, target)?;
                        frontend::sasl_initial_response(mechanism, state.message(), frames.out())
                            .map_err(encode_error)?;
                        scram = Some(state);
                    }
                    11 => {
                        let state = scram.as_mut().ok_or_else(unexpected_sasl)?;
                        state.update(&r.rest()).map_err(|e| auth_error(&server, e))?;
                        frontend::sasl_response(state.message(), frames.out())
                            .map_err(encode_error)?;
                    }
                    12 => {
                        let state = scram.as_mut().ok_or_else(unexpected_sasl)?;
                        state.finish(&r.rest()).map_err(|e| auth_error(&server, e))?;
                        continue;
                    }
                    code => {
                        return Err(WalSenderError::new(
                            WalSenderErrorKind::Auth,
                            format!(
                                "server {server} asks for an authentication method pgcopydb does not support (code {code}); use password, md5 or scram-sha-256 in pg_hba.conf"
                            ),
                        ))
                    }
                }
                frames.flush().await?;
            }
            b'E' => return Err(ServerMessage::parse(frame.body)?.into_error(&server)),
            // NegotiateProtocolVersion: the server speaks 3.0, as do we.
            b'N' | b'v' => {}
            other => return Err(unexpected(other, "authentication")),
        }
    }
}

/// SCRAM-SHA-256 without channel binding: the TLS layer does not expose the
/// server certificate's hash, so channel_binding=require is refused.
fn start_scram(
    mut mechanisms: Reader,
    password: &str,
    target: &RawTarget,
) -> Result<(&'static str, sasl::ScramSha256), WalSenderError> {
    let mut has_scram = false;
    while !mechanisms.is_empty() {
        let name = mechanisms.cstr()?;
        if name == sasl::SCRAM_SHA_256 {
            has_scram = true;
        }
    }
    if !has_scram {
        return Err(WalSenderError::new(
            WalSenderErrorKind::Auth,
            format!("server {target} offers no SASL mechanism pgcopydb supports (SCRAM-SHA-256)"),
        ));
    }
    if target.config().get_channel_binding() == ChannelBinding::Require {
        return Err(WalSenderError::new(
            WalSenderErrorKind::Auth,
            "channel_binding=require is not supported on the replication connection; use channel_binding=prefer",
        ));
    }
    let state = sasl::ScramSha256::new(password.as_bytes(), sasl::ChannelBinding::unsupported());
    Ok((sasl::SCRAM_SHA_256, state))
}

/// After AuthenticationOk: parameters, the backend key, ReadyForQuery.
async fn finish_startup(mut frames: Frames) -> Result<Session, WalSenderError> {
    let mut parameters = Vec::new();
    let mut backend_pid = 0;
    loop {
        let frame = frames.read().await?;
        match frame.tag {
            b'S' => {
                let mut r = Reader::new(frame.body, "ParameterStatus");
                parameters.push((r.cstr()?, r.cstr()?));
            }
            b'K' => backend_pid = Reader::new(frame.body, "BackendKeyData").i32()?,
            b'Z' => {
                return Ok(Session {
                    frames,
                    parameters,
                    backend_pid,
                })
            }
            b'E' => return Err(ServerMessage::parse(frame.body)?.into_error(&frames.server)),
            b'N' => log_notice(frame.body, &frames.server),
            other => return Err(unexpected(other, "startup")),
        }
    }
}

pub(crate) fn log_notice(body: Bytes, server: &str) {
    if let Ok(notice) = ServerMessage::parse(body) {
        tracing::debug!("{server}: {}: {}", notice.severity, notice.text());
    }
}

pub(crate) fn unexpected(tag: u8, during: &str) -> WalSenderError {
    WalSenderError::protocol(format!(
        "unexpected message '{}' from the server during {during}",
        char::from(tag)
    ))
}

pub(crate) fn encode_error(e: std::io::Error) -> WalSenderError {
    WalSenderError::protocol(format!("cannot encode a message: {e}"))
}

fn unexpected_sasl() -> WalSenderError {
    WalSenderError::protocol("SASL message from the server before SASL started")
}

fn auth_error(server: &str, e: std::io::Error) -> WalSenderError {
    WalSenderError::new(
        WalSenderErrorKind::Auth,
        format!("SCRAM authentication with {server} failed: {e}"),
    )
}
