//! Runs of INSERTs into one table through `COPY FROM STDIN`: counted row
//! by row, and once a run is long enough the rest of it is streamed as COPY
//! text rows instead of pipelined INSERTs.

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;

use super::param;
use super::target::TargetTable;
use super::Applier;
use crate::stream::change::{RelId, Value};

/// INSERTs in a row into one table (same columns) within a transaction
/// after which the rest of the run goes through COPY: COPY costs a drained
/// pipeline and a round trip to start and one to finish. Measured with
/// bench/stream-apply (runs of N INSERTs per transaction, rows/s all by
/// COPY against all pipelined, two sittings on a loaded 2-core machine):
/// N = 16: 0.4–0.5×, 64: 0.9–1.5×, 256: 1.6–2.4×, 1024: 1.9–2.7×.
pub const COPY_THRESHOLD: u64 = 128;

/// Bytes of COPY data sent to the server at once.
const COPY_CHUNK: usize = 64 << 10;

/// The INSERT run being counted toward [`COPY_THRESHOLD`].
pub(super) struct Run {
    pub(super) relation: RelId,
    pub(super) roles: Vec<u8>,
    pub(super) length: u64,
}

pub(super) struct Copy {
    pub(super) relation: RelId,
    pub(super) roles: Vec<u8>,
    pub(super) table: String,
    pub(super) buffer: BytesMut,
    pub(super) rows: u64,
}

impl Applier {
    pub(super) async fn start_copy(
        &mut self,
        id: RelId,
        table: &TargetTable,
        roles: Vec<u8>,
    ) -> Result<()> {
        // Everything before it must be answered: an error there comes first.
        self.settle_all().await?;
        let columns: Vec<&str> = table
            .columns
            .iter()
            .zip(&roles)
            .filter(|(_, r)| **r != 0)
            .map(|(c, _)| c.ident.as_str())
            .collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN",
            table.qualified,
            columns.join(", ")
        );
        self.pipeline
            .copy_in(&sql)
            .await
            .with_context(|| format!("starting {sql}"))?;
        self.copy = Some(Copy {
            relation: id,
            roles,
            table: table.qualified.clone(),
            buffer: BytesMut::with_capacity(COPY_CHUNK),
            rows: 0,
        });
        Ok(())
    }

    pub(super) async fn copy_row(&mut self, new: &[Value], roles: &[u8]) -> Result<()> {
        let Some(copy) = &mut self.copy else {
            return Err(anyhow!("no COPY in progress"));
        };
        let values: Vec<&Value> = new
            .iter()
            .zip(roles)
            .filter(|(_, r)| **r != 0)
            .map(|(v, _)| v)
            .collect();
        if param::copy_text_row(&mut copy.buffer, &values).is_none() {
            return Err(anyhow!("a binary value cannot go through COPY text"));
        }
        copy.rows += 1;
        if let Some(tx) = &mut self.tx {
            tx.rows += 1;
        }
        if copy.buffer.len() >= COPY_CHUNK {
            let chunk = copy.buffer.split().freeze();
            let table = copy.table.clone();
            self.pipeline
                .copy_data(chunk)
                .await
                .with_context(|| format!("copying rows into {table}"))?;
        }
        Ok(())
    }

    pub(super) async fn end_copy(&mut self) -> Result<()> {
        let Some(mut copy) = self.copy.take() else {
            return Ok(());
        };
        let context = || {
            let xid = self.tx.as_ref().map_or(0, |t| t.xid);
            format!(
                "applying {} INSERTs into {} (source transaction {xid}) through COPY",
                copy.rows, copy.table
            )
        };
        if !copy.buffer.is_empty() {
            let chunk = copy.buffer.split().freeze();
            self.pipeline.copy_data(chunk).await.with_context(context)?;
        }
        let result = self.pipeline.copy_finish().await;
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => return self.statement_error(anyhow::Error::new(e).context(context())),
        };
        if rows != copy.rows {
            return Err(anyhow!("{}: the target took {rows} rows", context()));
        }
        Ok(())
    }
}
