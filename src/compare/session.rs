//! Read-only snapshot sessions on either side, with the settings that make a
//! value's text form the same on both servers (see `connections`).

use anyhow::Result;
use tokio_postgres::Client;

use crate::connections::Side;
use crate::conninfo::ConnInfo;
use crate::snapshot::{export_on, reader_on, SnapshotHolder};

/// Holds the exporting transaction of one side; dropping it ends the snapshot.
pub type Exported = SnapshotHolder;

/// Export a snapshot on `side` so that every worker of that side sees one state.
pub async fn export(side: Side, info: &ConnInfo) -> Result<Exported> {
    export_on(side, info).await
}

/// A connection inside a REPEATABLE READ READ ONLY transaction, importing
/// `snapshot` when given.
pub async fn open(side: Side, info: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    reader_on(side, info, snapshot).await
}
