//! The exported snapshot: one REPEATABLE READ transaction on the source,
//! held open for the whole run, whose view every reader (pg_dump included)
//! imports, so that the target gets one consistent state of the source.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::connections::{connect, Side, SOURCE_SESSION_SETTINGS};
use crate::conninfo::ConnInfo;
use crate::sql::quote_literal;

/// Holds the exporting transaction; dropping it releases the snapshot.
pub struct SnapshotHolder {
    _client: Client,
    pub id: String,
}

/// Export a snapshot from a new source connection and keep it alive.
pub async fn export(source: &ConnInfo) -> Result<SnapshotHolder> {
    let client = connect(Side::Source, source).await?;
    client.batch_execute(SOURCE_SESSION_SETTINGS).await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .context("exporting a snapshot on the source")?
        .get(0);
    Ok(SnapshotHolder {
        _client: client,
        id,
    })
}

/// A read-only source connection inside a transaction that sees `snapshot`
/// (or its own REPEATABLE READ view when the run is not consistent).
pub async fn open_reader(source: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    let client = connect(Side::Source, source).await?;
    client.batch_execute(SOURCE_SESSION_SETTINGS).await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    if let Some(id) = snapshot {
        client
            .batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
            .await
            .map_err(|e| {
                Side::Source.failure(format!(
                    "cannot use snapshot {id} on the source: {}; the transaction that exported it \
                     has ended — start a new run without --snapshot, or use --not-consistent",
                    crate::connections::db_error_message(&e)
                ))
            })?;
    }
    Ok(client)
}
