//! Large objects: contents copied with the same OIDs, read on the source
//! under the snapshot. Small ones go many to a round trip and a target
//! transaction ([`copy_batch`]); one bigger than [`CHUNK`] is streamed alone
//! in chunks ([`copy_large_object`]), so that none is ever held whole.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::error::{Side, SideContext};

mod metadata;
pub use metadata::{
    copy_comments_and_privileges, copy_security_labels, create_metadata, create_missing,
};

/// Bytes read and written per round trip of a streamed large object; a
/// larger object is never part of a batch.
pub const CHUNK: i32 = 1024 * 1024;
/// A batch: at most this many objects (one target transaction, one state
/// commit) ...
pub const BATCH_OBJECTS: usize = 1000;
/// ... and at most this many bytes of contents, read in one result.
pub const BATCH_BYTES: u64 = 8 * 1024 * 1024;

/// The size of each large object, in the order given, in one round trip.
/// Each is opened for reading (262144 = INV_READ), measured and closed.
pub async fn sizes(source: &Client, oids: &[u32]) -> Result<Vec<(u32, u64)>> {
    let rows = source
        .query(
            "SELECT u.o, pg_catalog.lo_lseek64(f.fd, 0, 2), pg_catalog.lo_close(f.fd) \
               FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u(o, n), \
                    LATERAL (SELECT pg_catalog.lo_open(u.o, 262144) AS fd OFFSET 0) AS f \
              ORDER BY u.n",
            &[&oids],
        )
        .await
        .context("reading the sizes of source large objects")?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<_, u32>(0)?,
                r.try_get::<_, i64>(1)?.max(0) as u64,
            ))
        })
        .collect()
}

/// A large object's OID and size in bytes.
pub type Sized = (u32, u64);

/// Splits measured objects into batches within [`BATCH_OBJECTS`] and
/// [`BATCH_BYTES`], and the ones bigger than [`CHUNK`], to be streamed alone.
pub fn plan(sized: &[Sized]) -> (Vec<Vec<Sized>>, Vec<Sized>) {
    let mut batches: Vec<Vec<Sized>> = Vec::new();
    let mut big = Vec::new();
    let mut bytes = 0;
    for &(oid, size) in sized {
        if size > CHUNK as u64 {
            big.push((oid, size));
            continue;
        }
        match batches.last_mut() {
            Some(b) if b.len() < BATCH_OBJECTS && bytes + size <= BATCH_BYTES => {
                b.push((oid, size));
                bytes += size;
            }
            _ => {
                batches.push(vec![(oid, size)]);
                bytes = size;
            }
        }
    }
    (batches, big)
}

/// Copy a batch of small large objects: their contents read in one query,
/// written in one target transaction. Ones already on the target (made by
/// [`create_metadata`] or pre-data, or written by a run cut short) are
/// overwritten and cut to length; missing ones are created with the same OID. Returns the
/// objects that turned out bigger than [`CHUNK`] (grown since measured,
/// outside a snapshot), left for [`copy_large_object`], and the bytes copied.
pub async fn copy_batch(source: &Client, target: &Client, oids: &[u32]) -> Result<(Vec<u32>, u64)> {
    let rows = source
        .query(
            "SELECT u.o, pg_catalog.lo_get(u.o, 0, $2) \
               FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u(o, n) ORDER BY u.n",
            &[&oids, &(CHUNK + 1)],
        )
        .await
        .context("reading a batch of source large objects")?;
    let (mut ids, mut contents, mut grown) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        let oid: u32 = r.try_get(0)?;
        let data: Vec<u8> = r.try_get(1)?;
        if data.len() > CHUNK as usize {
            grown.push(oid);
        } else {
            ids.push(oid);
            contents.push(data);
        }
    }
    let bytes = contents.iter().map(|c| c.len() as u64).sum();
    target.batch_execute("BEGIN").await?;
    let result = async {
        create_missing(target, &ids).await?;
        target
            .execute(
                "SELECT pg_catalog.lo_put(u.o, 0, u.d) \
                   FROM unnest($1::pg_catalog.oid[], $2::pg_catalog.bytea[]) AS u(o, d) \
                  WHERE pg_catalog.length(u.d) > 0",
                &[&ids, &contents],
            )
            .await?;
        // One longer on the target (a run cut short wrote it) is cut to the
        // source's length. Only those: lo_truncate writes a page even when
        // it has nothing to cut. 262144 = INV_READ, 131072 = INV_WRITE; the
        // descriptors close at commit.
        let lengths: Vec<i64> = contents.iter().map(|c| c.len() as i64).collect();
        target
            .execute(
                "SELECT pg_catalog.lo_truncate64(pg_catalog.lo_open(u.o, 131072), u.n) \
                   FROM unnest($1::pg_catalog.oid[], $2::pg_catalog.int8[]) AS u(o, n), \
                        LATERAL (SELECT pg_catalog.lo_open(u.o, 262144) AS fd OFFSET 0) AS r \
                  WHERE pg_catalog.lo_lseek64(r.fd, 0, 2) > u.n",
                &[&ids, &lengths],
            )
            .await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            target.batch_execute("COMMIT").await?;
            Ok((grown, bytes))
        }
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            let (first, last) = (oids.first(), oids.last());
            Err(e).with_context(|| {
                format!(
                    "copying large objects {} to {}",
                    first.unwrap_or(&0),
                    last.unwrap_or(&0)
                )
            })
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_their_bounds_and_big_ones_go_alone() {
        let mut sized: Vec<(u32, u64)> = (0..2500).map(|i| (i, 2048)).collect();
        sized.push((3000, CHUNK as u64 + 1));
        sized.extend((4000..4020).map(|i| (i, 1024 * 1024)));
        sized.push((5000, 0));
        let (batches, big) = plan(&sized);
        assert_eq!(big, vec![(3000, CHUNK as u64 + 1)]);
        for b in &batches {
            assert!(b.len() <= BATCH_OBJECTS);
            assert!(b.iter().map(|(_, s)| s).sum::<u64>() <= BATCH_BYTES);
        }
        let all: Vec<u32> = batches.iter().flatten().map(|(o, _)| *o).collect();
        assert_eq!(all.len(), 2500 + 20 + 1, "every small one, in order, once");
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }
}
