//! One table's COPY, inside one target transaction that truncates first so
//! that `COPY ... FREEZE` applies (rows land frozen and all-visible).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use futures_util::{pin_mut, SinkExt, StreamExt};
use tokio_postgres::Client;

use crate::catalog::Table;

/// Wire format of the COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Binary,
}

#[derive(Debug, Clone, Default)]
pub struct CopyStats {
    pub rows: u64,
    pub bytes: u64,
    pub duration: Duration,
}

/// The source sends one CopyData message per row; regrouping them into
/// buffers of this size cuts per-message work on our side and the target's.
const CHUNK: usize = 64 * 1024;

/// Copy one whole table. `source` must be a reader inside the snapshot;
/// `target` an idle worker connection. `counted` (this attempt's bytes) and
/// `progress` (the run's) are advanced as bytes flow.
pub async fn copy_table(
    source: &Client,
    target: &Client,
    table: &Table,
    format: CopyFormat,
    counted: &AtomicU64,
    progress: &AtomicU64,
) -> Result<CopyStats> {
    let started = Instant::now();
    let qualified = table.qualified();
    let columns = table.column_list();
    let with = match format {
        CopyFormat::Text => "",
        CopyFormat::Binary => " (FORMAT binary)",
    };
    // COPY table TO reads only this table, never inheritance children.
    let copy_out = format!("COPY {qualified} {columns} TO STDOUT{with}");
    let freeze_with = match format {
        CopyFormat::Text => " (FREEZE)",
        CopyFormat::Binary => " (FREEZE, FORMAT binary)",
    };
    let copy_in = format!("COPY {qualified} {columns} FROM STDIN{freeze_with}");

    target.batch_execute("BEGIN").await?;
    let result = async {
        target
            .batch_execute(&format!("TRUNCATE ONLY {qualified}"))
            .await
            .with_context(|| format!("truncating {} on the target", table.label()))?;
        stream(source, target, &copy_out, &copy_in, &[counted, progress]).await
    }
    .await;
    match result {
        Ok((rows, bytes)) => {
            target.batch_execute("COMMIT").await?;
            Ok(CopyStats {
                rows,
                bytes,
                duration: started.elapsed(),
            })
        }
        Err(e) => {
            // The connection may be gone; the error that matters is the copy's.
            let _ = target.batch_execute("ROLLBACK").await;
            Err(e.context(format!("copying {}", table.label())))
        }
    }
}

/// Pump the bytes from one COPY to the other, in `CHUNK`-sized buffers.
async fn stream(
    source: &Client,
    target: &Client,
    copy_out: &str,
    copy_in: &str,
    counters: &[&AtomicU64],
) -> Result<(u64, u64)> {
    let sink = target
        .copy_in::<_, Bytes>(copy_in)
        .await
        .context("starting COPY FROM on the target")?;
    let rows = source
        .copy_out(copy_out)
        .await
        .context("starting COPY TO on the source")?;
    pin_mut!(sink);
    pin_mut!(rows);
    let mut buffer = BytesMut::with_capacity(CHUNK);
    let mut total = 0u64;
    while let Some(message) = rows.next().await {
        let message = message.context("reading from the source")?;
        buffer.extend_from_slice(&message);
        if buffer.len() >= CHUNK {
            let n = buffer.len() as u64;
            sink.send(buffer.split().freeze())
                .await
                .context("writing to the target")?;
            total += n;
            counters.iter().for_each(|c| {
                c.fetch_add(n, Ordering::Relaxed);
            });
        }
    }
    if !buffer.is_empty() {
        let n = buffer.len() as u64;
        sink.send(buffer.split().freeze())
            .await
            .context("writing to the target")?;
        total += n;
        counters.iter().for_each(|c| {
            c.fetch_add(n, Ordering::Relaxed);
        });
    }
    let rows = sink
        .finish()
        .await
        .context("finishing COPY on the target")?;
    Ok((rows, total))
}
