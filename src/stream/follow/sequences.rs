//! At endpos: the target's sequences set to the source's current values
//! (logical decoding does not carry them), for the tables the filters keep.

use anyhow::{Context, Result};

use crate::catalog::queries::read_sequences;
use crate::catalog::{read_catalog, TableSizes};
use crate::connections::{connect, connect_target_worker, Endpoints, Side};
use crate::filters::Filters;
use crate::sequences::reset_sequences;

pub async fn copy(endpoints: &Endpoints, filters: &Filters) -> Result<usize> {
    if filters.is_empty() {
        // Every sequence is kept: read them alone, not the whole catalog
        // (tables, columns, indexes, keys, dependencies: a dozen queries)
        // that the filters need to decide which to keep.
        let (source, target) = tokio::try_join!(
            connect(Side::Source, &endpoints.source),
            connect_target_worker(&endpoints.target)
        )?;
        let sequences = read_sequences(&source)
            .await
            .context("reading source sequences")?;
        return reset_sequences(&target, &sequences).await;
    }
    // Both connections opened together: the follow's end waits for one.
    let (reader, target) = tokio::try_join!(
        crate::snapshot::open_reader(&endpoints.source, None),
        connect_target_worker(&endpoints.target)
    )?;
    let mut catalog = read_catalog(&reader, false, TableSizes::Estimated).await?;
    let selection = crate::filters::resolve(filters, &reader).await?;
    selection.apply(&mut catalog);
    drop(reader);
    reset_sequences(&target, &catalog.sequences).await
}
