//! Source and target are told apart by what the servers say about
//! themselves, never by the connection strings: `localhost`, 127.0.0.1, a
//! unix socket directory or a pooler in front are all spellings of one
//! server, and writing into the source would destroy it.

use anyhow::{Context, Result};
use tokio_postgres::Client;

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
/// hardened server does not let the role call `pg_control_system()`, a
/// source session that the target lists as one of its own backends proves
/// the same postmaster.
async fn same_server(source: &Client, target: &Client) -> Result<Option<SameServer>> {
    if let (Some(s), Some(t)) = (
        system_identifier(source).await,
        system_identifier(target).await,
    ) {
        return Ok((s == t).then(|| SameServer(format!("system identifier {s}"))));
    }
    let row = source
        .query_one(
            "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::int8 \
               FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .context("reading the source session's pid")?;
    let pid: i32 = row.try_get(0).context("reading the source session's pid")?;
    let started: Option<i64> = row
        .try_get(1)
        .context("reading the source session's start")?;
    let seen = target
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE pid = $1 AND (extract(epoch FROM backend_start) * 1000000)::int8 = $2",
            &[&pid, &started],
        )
        .await
        .context("looking for the source session on the target")?;
    let seen: i64 = seen
        .try_get(0)
        .context("looking for the source session on the target")?;
    Ok((seen > 0).then(|| {
        SameServer(format!(
            "the target lists the source's session, pid {pid}, as its own"
        ))
    }))
}

/// The server's system identifier, or None when the role may not read it.
async fn system_identifier(client: &Client) -> Option<i64> {
    match client
        .query_one("SELECT system_identifier FROM pg_control_system()", &[])
        .await
    {
        Ok(row) => row.try_get::<_, Option<i64>>(0).ok().flatten(),
        Err(e) => {
            tracing::debug!(
                "pg_control_system() is not readable ({e}); comparing sessions instead"
            );
            None
        }
    }
}

/// The oid of the session's database.
async fn database_oid(client: &Client) -> Result<u32> {
    let row = client
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .context("reading the database oid")?;
    row.try_get(0).context("reading the database oid")
}
