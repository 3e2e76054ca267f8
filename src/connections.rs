//! Opening the source and target connections, with errors a user can act on,
//! and the session settings every worker connection gets.

use anyhow::Result;
use tokio_postgres::Client;

use crate::conninfo::ConnInfo;
use crate::error::Failure;

/// Which server a connection goes to; decides the exit code and the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
    fn hint(self) -> &'static str {
        match self {
            Side::Source => "check --source or PGCOPYDB_SOURCE_PGURI",
            Side::Target => "check --target or PGCOPYDB_TARGET_PGURI",
        }
    }
    /// A failed connection: one line naming the side and what to check,
    /// of the kind the attempt found (retry, exit code).
    pub fn connect_failure(self, e: &crate::conninfo::ConnectError) -> Failure {
        Failure::new(
            e.error_kind(),
            self.into(),
            format!(
                "cannot connect to the {} database: {e}; {}",
                self.name(),
                self.hint()
            ),
        )
    }

    pub fn failure(self, message: impl Into<String>) -> Failure {
        match self {
            Side::Source => Failure::source(message),
            Side::Target => Failure::target(message),
        }
    }

    /// [`Failure::of_postgres`] on this side: `e`'s kind, our message.
    pub fn failure_of(self, e: &tokio_postgres::Error, message: impl Into<String>) -> Failure {
        Failure::of_postgres(self.into(), e, message)
    }
}

/// The two servers of a run.
#[derive(Clone)]
pub struct Endpoints {
    pub source: ConnInfo,
    pub target: ConnInfo,
}

impl Endpoints {
    /// Both connection strings resolved; a missing or invalid one is a usage
    /// error naming its option.
    pub fn new(source: Option<&str>, target: Option<&str>) -> Result<Endpoints> {
        Ok(Endpoints {
            source: resolve(Side::Source, source)?,
            target: resolve(Side::Target, target)?,
        })
    }
}

/// The connection string of one side, or a usage error naming its option.
pub fn resolve(side: Side, s: Option<&str>) -> Result<ConnInfo> {
    let Some(s) = s else {
        return Err(Failure::args(format!(
            "no {} connection string: use --{} or set PGCOPYDB_{}_PGURI",
            side.name(),
            side.name(),
            side.name().to_uppercase()
        ))
        .into());
    };
    ConnInfo::resolve(s).map_err(|e| {
        Failure::args(format!("invalid {} connection string: {e:#}", side.name())).into()
    })
}

/// Connect, turning any failure into one line naming the side and what to check.
pub async fn connect(side: Side, info: &ConnInfo) -> Result<Client> {
    let client = info.connect().await.map_err(|e| side.connect_failure(&e))?;
    // Every connection can be cancelled when the run is interrupted.
    if let Ok(tls) = info.tls() {
        crate::interrupt::register(&client, tls);
    }
    Ok(client)
}

/// Connect to the target and apply the session settings of a worker connection.
pub async fn connect_target_worker(info: &ConnInfo) -> Result<Client> {
    let client = connect(Side::Target, info).await?;
    client.batch_execute(TARGET_SESSION_SETTINGS).await?;
    Ok(client)
}

/// Every setting that changes how a value is printed as text, pinned to one
/// value on both servers: a database may override them (`ALTER DATABASE ...
/// SET DateStyle`), and what one server prints the other must read back
/// exactly (COPY text format) or print identically (compare). With
/// extra_float_digits = 3, PostgreSQL 12+ prints the shortest exact float.
macro_rules! text_form_settings {
    () => {
        "SET client_encoding = 'UTF8';\
         SET extra_float_digits = 3;\
         SET datestyle = 'ISO, YMD';\
         SET intervalstyle = 'postgres';\
         SET timezone = 'UTC';\
         SET lc_monetary = 'C';\
         SET bytea_output = 'hex';\
         SET xmloption = 'content';\
         SET statement_timeout = 0;\
         SET lock_timeout = 0;\
         SET idle_in_transaction_session_timeout = 0;"
    };
}

/// Settings for target sessions: no timeouts cutting a long COPY or index
/// build short, and no waiting for WAL flush on every commit — a crash of the
/// target mid-run means re-running the copy anyway.
pub(crate) const TARGET_SESSION_SETTINGS: &str = concat!(
    text_form_settings!(),
    "SET default_transaction_read_only = off;\
     SET synchronous_commit = off;"
);

/// Settings for source sessions: reads only, never a timeout on a long COPY.
pub const SOURCE_SESSION_SETTINGS: &str = concat!(
    text_form_settings!(),
    "SET default_transaction_read_only = on;"
);

/// Server major version (13, 14, ..., 18).
pub async fn server_major(client: &Client) -> Result<u32> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?;
    let num: i32 = row.try_get(0)?;
    Ok((num / 10000) as u32)
}

/// Full server version string, as `SHOW server_version` prints it.
pub async fn server_version(client: &Client) -> Result<String> {
    let row = client.query_one("SHOW server_version", &[]).await?;
    Ok(row.try_get(0)?)
}

/// The server's message for a database error (without the "db error:" prefix
/// tokio-postgres adds), or the client-side description.
pub fn db_error_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// Run a DDL statement that takes locks on more than one table (ADD FOREIGN
/// KEY, VALIDATE, ADD CONSTRAINT, ATTACH) and that other workers run at the
/// same time in another order: a deadlock or lock timeout aborts only that
/// statement, so a retryable error is retried a few times on the same
/// connection while it is open (cyclic foreign keys, such as pagila's staff
/// and store, make this common).
pub async fn ddl(client: &Client, sql: &str) -> Result<(), tokio_postgres::Error> {
    let mut attempt = 0u32;
    loop {
        match client.batch_execute(sql).await {
            Err(e)
                if attempt < 10
                    && !client.is_closed()
                    && crate::error::Kind::of_postgres(&e).is_retryable() =>
            {
                attempt += 1;
                tracing::debug!("retrying after {e}: {sql}");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}
