//! Reading what the split planner needs from the source (under the
//! snapshot): each large table's integer key and its bounds, its heap pages
//! and access method; then attaching the planned parts to the table.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::parts::{ctid_split_allowed, plan_parts, SplitKey, SplitSettings, TableShape};
use super::Catalog;

/// The first single-column unique index on an integer column, PRIMARY KEY
/// preferred: its ranges are read through the index.
const SPLIT_KEY_SQL: &str = "\
    SELECT a.attname, NOT a.attnotnull \
      FROM pg_index i \
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
     WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indnatts = 1 \
       AND i.indpred IS NULL AND i.indexprs IS NULL \
       AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) \
     ORDER BY i.indisprimary DESC, i.indexrelid \
     LIMIT 1";

const SHAPE_SQL: &str = "\
    SELECT coalesce(pg_relation_size(c.oid), 0) / current_setting('block_size')::int8, \
           coalesce(am.amname = 'heap', false) \
      FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam \
     WHERE c.oid = $1";

/// Plan the parts of every table at or above the threshold; ctid ranges as
/// [`ctid_split_allowed`] allows them.
pub async fn plan_splits(
    source: &Client,
    catalog: &mut Catalog,
    settings: &SplitSettings,
    source_major: u32,
    skip_split_by_ctid: bool,
) -> Result<()> {
    for table in catalog.tables.iter_mut() {
        if !settings.eligible(table.bytes) || table.columns.is_empty() {
            continue;
        }
        let shape_row = source.query_one(SHAPE_SQL, &[&table.oid]).await?;
        let key = match source.query_opt(SPLIT_KEY_SQL, &[&table.oid]).await? {
            Some(row) => {
                let column: String = row.try_get(0)?;
                let bounds = source
                    .query_one(
                        &format!(
                            "SELECT min({c})::int8, max({c})::int8 FROM ONLY {t}",
                            c = crate::sql::quote_ident(&column),
                            t = table.qualified()
                        ),
                        &[],
                    )
                    .await
                    .with_context(|| format!("reading the key range of {}", table.label()))?;
                Some(SplitKey {
                    column,
                    nullable: row.try_get(1)?,
                    min: bounds.try_get(0)?,
                    max: bounds.try_get(1)?,
                })
            }
            None => None,
        };
        let shape = TableShape {
            bytes: table.bytes,
            heap_pages: shape_row.try_get(0)?,
            key,
            ctid_split: ctid_split_allowed(source_major, shape_row.try_get(1)?, skip_split_by_ctid),
        };
        let parts = plan_parts(&shape, settings);
        if parts.len() > 1 {
            tracing::info!("{} is copied in {} parts", table.label(), parts.len());
            std::sync::Arc::make_mut(table).parts = parts;
        }
    }
    Ok(())
}
