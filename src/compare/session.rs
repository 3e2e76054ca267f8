//! Read-only snapshot sessions on either side, with the output settings that
//! make a value's text form the same on both servers.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::connections::{connect, db_error_message, Side};
use crate::conninfo::ConnInfo;
use crate::sql::quote_literal;

/// Every setting that changes how a value is printed as text is pinned, so
/// two servers configured differently (time zone, DateStyle, bytea_output,
/// lc_monetary, ...) still print equal values identically. With
/// extra_float_digits = 3, PostgreSQL 12 and later print the shortest exact
/// form of a float, the same on every supported major version.
const COMPARE_SESSION_SETTINGS: &str = "\
    SET client_encoding = 'UTF8';\
    SET extra_float_digits = 3;\
    SET DateStyle = 'ISO, MDY';\
    SET IntervalStyle = 'postgres';\
    SET TimeZone = 'UTC';\
    SET bytea_output = 'hex';\
    SET lc_monetary = 'C';\
    SET xmloption = 'content';\
    SET statement_timeout = 0;\
    SET lock_timeout = 0;\
    SET idle_in_transaction_session_timeout = 0;";

/// Holds the exporting transaction of one side; dropping it ends the snapshot.
pub struct Exported {
    _client: Client,
    pub id: String,
}

/// Export a snapshot on `side` so that every worker of that side sees one state.
pub async fn export(side: Side, info: &ConnInfo) -> Result<Exported> {
    let client = open(side, info, None).await?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .with_context(|| format!("exporting a snapshot on the {}", side.name()))?
        .get(0);
    Ok(Exported {
        _client: client,
        id,
    })
}

/// A connection inside a REPEATABLE READ READ ONLY transaction, importing
/// `snapshot` when given.
pub async fn open(side: Side, info: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    let client = connect(side, info).await?;
    client.batch_execute(COMPARE_SESSION_SETTINGS).await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    if let Some(id) = snapshot {
        client
            .batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
            .await
            .map_err(|e| {
                side.failure(format!(
                    "cannot use snapshot {id} on the {}: {}; the transaction that exported it \
                     has ended — export a new one, or run without --snapshot",
                    side.name(),
                    db_error_message(&e)
                ))
            })?;
    }
    Ok(client)
}
