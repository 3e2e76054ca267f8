//! At endpos: the target's sequences set to the source's current values
//! (logical decoding does not carry them), for the tables the filters keep.

use anyhow::Result;

use crate::catalog::{read_catalog, TableSizes};
use crate::connections::{connect_target_worker, Endpoints};
use crate::filters::Filters;
use crate::sequences::reset_sequences;

pub async fn copy(endpoints: &Endpoints, filters: &Filters) -> Result<usize> {
    let reader = crate::snapshot::open_reader(&endpoints.source, None).await?;
    let mut catalog = read_catalog(&reader, false, TableSizes::Estimated).await?;
    let selection = crate::filters::resolve(filters, &reader).await?;
    selection.apply(&mut catalog);
    drop(reader);
    let target = connect_target_worker(&endpoints.target).await?;
    reset_sequences(&target, &catalog.sequences).await
}
