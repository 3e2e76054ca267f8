//! The exported snapshot: one REPEATABLE READ transaction on the source,
//! held open for the whole run, whose view every reader (pg_dump included)
//! imports, so that the target gets one consistent state of the source.

use anyhow::Result;
use tokio_postgres::Client;

use crate::connections::{connect, Side, SOURCE_SESSION_SETTINGS};
use crate::conninfo::ConnInfo;
use crate::copy::relay::TapHandle;
use crate::error::SideContext;
use crate::sql::quote_literal;

/// Holds the exporting transaction; dropping it releases the snapshot.
pub struct SnapshotHolder {
    _client: Client,
    pub id: String,
}

/// Export a snapshot from a new source connection and keep it alive.
pub async fn export(source: &ConnInfo) -> Result<SnapshotHolder> {
    export_on(Side::Source, source).await
}

/// Export a snapshot on either server (compare reads the target under one too).
pub async fn export_on(side: Side, info: &ConnInfo) -> Result<SnapshotHolder> {
    let client = reader_on(side, info, None).await?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .on(side, format!("exporting a snapshot on the {}", side.name()))?
        .try_get(0)?;
    Ok(SnapshotHolder {
        _client: client,
        id,
    })
}

/// A read-only source connection inside a transaction that sees `snapshot`
/// (or its own REPEATABLE READ view when the run is not consistent).
pub async fn open_reader(source: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    reader_on(Side::Source, source, snapshot).await
}

/// A read-only connection to either server inside a REPEATABLE READ
/// transaction, importing `snapshot` when given.
pub async fn reader_on(side: Side, info: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    let client = connect(side, info).await?;
    enter_snapshot(&client, side, snapshot).await?;
    Ok(client)
}

/// A source reader for table copies, over a socket of our own so that COPY
/// data can be relayed without per-row work (see [`crate::copy::relay`]).
pub async fn open_copy_reader(
    source: &ConnInfo,
    snapshot: Option<&str>,
) -> Result<(Client, Option<TapHandle>)> {
    let side = Side::Source;
    let (client, handle, endpoint) = source
        .connect_tapped()
        .await
        .map_err(|e| side.connect_failure(&e))?;
    if let Ok(tls) = source.tls() {
        crate::interrupt::register_tapped(&client, tls, endpoint);
    }
    enter_snapshot(&client, side, snapshot).await?;
    Ok((client, handle.usable().then_some(handle)))
}

/// Session settings, then a read-only REPEATABLE READ transaction importing
/// `snapshot` when given.
async fn enter_snapshot(client: &Client, side: Side, snapshot: Option<&str>) -> Result<()> {
    client.batch_execute(SOURCE_SESSION_SETTINGS).await.on(
        side,
        format!("setting up the session on the {}", side.name()),
    )?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .on(
            side,
            format!("starting a transaction on the {}", side.name()),
        )?;
    if let Some(id) = snapshot {
        client
            .batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
            .await
            .map_err(|e| {
                side.failure_of(
                    &e,
                    format!(
                        "cannot use snapshot {id} on the {}: {}; the transaction that exported it \
                     has ended — start a new run without --snapshot, or use --not-consistent",
                        side.name(),
                        crate::connections::db_error_message(&e)
                    ),
                )
            })?;
    }
    Ok(())
}
