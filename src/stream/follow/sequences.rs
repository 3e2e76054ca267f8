//! At endpos: the target's sequences set to the source's current values
//! (logical decoding does not carry them), for the tables the filters keep.

use anyhow::Result;

use crate::catalog::{read_catalog, TableSizes};
use crate::connections::{connect_target_worker, Endpoints};
use crate::filters::Filters;
use crate::sequences::reset_sequences;

pub async fn copy(endpoints: &Endpoints, filters: &Filters) -> Result<usize> {
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
