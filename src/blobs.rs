//! Large objects: contents copied with the same OIDs, read on the source
//! under the snapshot, in chunks so that a large object is never held whole.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::error::{Side, SideContext};

/// Bytes read and written per round trip.
const CHUNK: i32 = 1024 * 1024;

/// Copy one large object. The target may already have it (pre-data restores
/// large-object metadata with owner and privileges): then its contents are
/// replaced; otherwise it is created with the same OID.
pub async fn copy_large_object(source: &Client, target: &Client, oid: u32) -> Result<u64> {
    let exists = target
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_largeobject_metadata WHERE oid = $1",
            &[&oid],
        )
        .await?
        .is_some();
    target.batch_execute("BEGIN").await?;
    let result = async {
        if exists {
            // 131072 = INV_WRITE: empty it so a shorter object is not left with old bytes.
            target
                .execute(
                    "SELECT pg_catalog.lo_truncate(pg_catalog.lo_open($1, 131072), 0)",
                    &[&oid],
                )
                .await?;
        } else {
            target
                .execute("SELECT pg_catalog.lo_create($1)", &[&oid])
                .await?;
        }
        let mut offset: i64 = 0;
        loop {
            let chunk: Vec<u8> = source
                .query_one(
                    "SELECT pg_catalog.lo_get($1, $2, $3)",
                    &[&oid, &offset, &CHUNK],
                )
                .await
                .on(Side::Source, "reading it on the source")?
                .try_get(0)?;
            if chunk.is_empty() {
                break;
            }
            target
                .execute(
                    "SELECT pg_catalog.lo_put($1, $2, $3)",
                    &[&oid, &offset, &chunk],
                )
                .await?;
            offset += chunk.len() as i64;
            if chunk.len() < CHUNK as usize {
                break;
            }
        }
        Ok::<u64, anyhow::Error>(offset as u64)
    }
    .await;
    match result {
        Ok(bytes) => {
            target.batch_execute("COMMIT").await?;
            Ok(bytes)
        }
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            Err(e).with_context(|| format!("copying large object {oid}"))
        }
    }
}
