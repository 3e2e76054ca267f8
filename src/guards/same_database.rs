//! Source and target are told apart by what the servers say about
//! themselves, never by the connection strings: `localhost`, 127.0.0.1, a
//! unix socket directory or a pooler in front are all spellings of one
//! server, and writing into the source would destroy it.

use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::Failure;

/// How the two sessions were found to reach one server, for the message.
struct SameServer(String);

/// Refuse a command that would write into the database it reads from.
/// Two databases of one server (source `a`, target `b`) are fine.
pub async fn refuse_same_database(source: &Client, target: &Client, action: &str) -> Result<()> {
    let Some(SameServer(proof)) = same_server(source, target).await? else {
        return Ok(());
    };
    let (source_db, target_db) = (database_oid(source).await?, database_oid(target).await?);
    if source_db != target_db {
        return Ok(());
    }
    Err(Failure::target(format!(
        "source and target are the same database ({proof}, database oid {source_db}): \
         refusing to {action}; give a --target on another server or another database"
    ))
    .into())
}

/// The database a session reaches, as `system identifier/database oid`, or
/// None when the role may not read the system identifier. Recorded with a
/// schema dump, it lets a restore without `--source` refuse the dump's own
/// database.
pub async fn database_identity(client: &Client) -> Result<Option<String>> {
    let Some(system) = system_identifier(client).await else {
        return Ok(None);
    };
    Ok(Some(format!("{system}/{}", database_oid(client).await?)))
}

/// Refuse to write into the database whose identity the dump recorded.
pub async fn refuse_recorded_source(target: &Client, recorded: &str, action: &str) -> Result<()> {
    if database_identity(target).await?.as_deref() != Some(recorded) {
        return Ok(());
    }
    Err(Failure::target(format!(
        "the target is the database the schema was dumped from (system identifier/database oid \
         {recorded}): refusing to {action}; give a --target on another server or another database"
    ))
    .into())
}

/// Refuse a command that copies a whole instance into itself: every database
/// of it would be its own target.
pub async fn refuse_same_instance(source: &Client, target: &Client, action: &str) -> Result<()> {
    let Some(SameServer(proof)) = same_server(source, target).await? else {
        return Ok(());
    };
    Err(Failure::target(format!(
        "source and target are the same instance ({proof}): refusing to {action}; \
         give a --target on another server"
    ))
    .into())
}

/// Whether both sessions reach the same server. The system identifier is
/// the server's own (shared by its physical standbys, which replay whatever
/// is written to it: a standby and its primary count as one). Where a
/// hardened server does not let a role call `pg_control_system()`, the
/// source session's backend, listed among the target's backends by a
/// postmaster started at the same instant, proves the same postmaster. (A
/// role sees every backend's pid, but not the details of another role's
/// sessions, such as their start time.)
///
/// Every query is a simple one, with no prepared statement, so that it
/// works through a pooler in transaction mode, whose server connection can
/// change between a statement's preparation and its execution.
async fn same_server(source: &Client, target: &Client) -> Result<Option<SameServer>> {
    if let (Some(s), Some(t)) = (
        system_identifier(source).await,
        system_identifier(target).await,
    ) {
        return Ok((s == t).then(|| SameServer(format!("system identifier {s}"))));
    }
    let what = "reading the source session's pid";
    let pid: i32 = number(source, "SELECT pg_backend_pid()", what).await?;
    let postmaster_start = "(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::int8";
    let started: i64 = number(source, &format!("SELECT {postmaster_start}"), what).await?;
    let seen: i64 = number(
        target,
        &format!(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE pid = {pid} AND {postmaster_start} = {started}"
        ),
        "looking for the source session on the target",
    )
    .await?;
    Ok((seen > 0).then(|| {
        SameServer(format!(
            "the target lists the source's session, pid {pid}, as its own"
        ))
    }))
}

/// The one value `sql` returns, run as a simple query.
async fn value(client: &Client, sql: &str, what: &str) -> Result<Option<String>> {
    let messages = client.simple_query(sql).await.context(what.to_string())?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let Some(row) = row else {
        bail!("{what}: no row returned");
    };
    Ok(row
        .try_get(0)
        .with_context(|| what.to_string())?
        .map(str::to_string))
}

/// The number `sql` returns, run as a simple query.
async fn number<T: std::str::FromStr>(client: &Client, sql: &str, what: &str) -> Result<T> {
    let text = value(client, sql, what).await?;
    text.as_deref()
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("{what}: not a number: {text:?}"))
}

/// The server's system identifier, or None when the role may not read it.
async fn system_identifier(client: &Client) -> Option<i64> {
    let sql = "SELECT system_identifier FROM pg_control_system()";
    match number(client, sql, "reading the system identifier").await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::debug!("{e:#}; comparing sessions instead");
            None
        }
    }
}

/// The oid of the session's database.
async fn database_oid(client: &Client) -> Result<u32> {
    let sql = "SELECT oid FROM pg_database WHERE datname = current_database()";
    number(client, sql, "reading the database oid").await
}
