//! Sequence values: `setval` on the target with the `last_value` and
//! `is_called` read on the source under the snapshot.

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio_postgres::Client;

use crate::catalog::Sequence;

/// Set every sequence on the target; the statements are pipelined on one
/// connection. Returns how many were set.
pub async fn reset_sequences(target: &Client, sequences: &[Sequence]) -> Result<usize> {
    let calls = sequences.iter().map(|s| async move {
        let name = s.qualified();
        target
            .execute(
                "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                &[&name, &s.last_value, &s.is_called],
            )
            .await
            .with_context(|| format!("setting sequence {}.{}", s.schema, s.name))
    });
    try_join_all(calls).await?;
    Ok(sequences.len())
}
