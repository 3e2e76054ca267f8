//! Which long columns the target need not try to compress.
//!
//! A long value in an EXTENDED column is compressed when that saves at least
//! a quarter of it, and stored uncompressed (moved out of line) otherwise.
//! When no value of a column is compressed on the source, every attempt the
//! target makes during the copy is wasted work: with pglz that is most of
//! the COPY's CPU on such a table (hashes, hex or base64 text). Storing the
//! column EXTERNAL for the copy's transaction lands the same uncompressed
//! values without the attempts, and the column is EXTENDED again at commit.
//! It even copies the source more exactly: a value the source left
//! uncompressed stays so, whatever the target's compression method.

use std::time::Instant;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::{Catalog, Table};
use crate::sql::quote_ident;

/// Heap and TOAST sizes of the tables with an out-of-line value.
const SIZES_SQL: &str = "\
    SELECT c.oid, pg_relation_size(c.oid), pg_relation_size(c.reltoastrelid) \
      FROM pg_class c \
     WHERE c.oid = ANY($1) AND c.reltoastrelid <> 0";

/// The check reads the table's heap (never its TOAST): only worth it when the
/// out-of-line values, whose compression attempts it saves, are at least a
/// quarter of the heap's size.
const HEAP_PER_TOAST: i64 = 4;

/// Set `store_uncompressed` on the tables copied whole. `source` is inside
/// the snapshot, on PostgreSQL 14+ (`pg_column_compression`).
pub async fn plan_uncompressed_storage(source: &Client, catalog: &mut Catalog) -> Result<()> {
    let candidates: Vec<u32> = catalog
        .tables
        .iter()
        .filter(|t| t.copy_data && t.parts.is_empty() && t.columns.iter().any(|c| c.extended))
        .map(|t| t.oid)
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let sizes = source
        .query(SIZES_SQL, &[&candidates])
        .await
        .context("reading heap and TOAST sizes")?;
    for row in sizes {
        let (oid, heap, toast): (u32, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if toast == 0 || heap > HEAP_PER_TOAST * toast {
            continue;
        }
        let Some(table) = catalog.tables.iter_mut().find(|t| t.oid == oid) else {
            continue;
        };
        let started = Instant::now();
        table.store_uncompressed = uncompressed_columns(source, table)
            .await
            .with_context(|| format!("reading the compression of {}", table.label()))?;
        tracing::debug!(
            "{}: {} of its EXTENDED columns hold no compressed value ({:?} to check)",
            table.label(),
            table.store_uncompressed.len(),
            started.elapsed()
        );
    }
    Ok(())
}

/// The EXTENDED columns of `table` without a single compressed value. Each
/// column's scan stops at its first compressed value.
async fn uncompressed_columns(source: &Client, table: &Table) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for column in table.columns.iter().filter(|c| c.extended) {
        let sql = format!(
            "SELECT NOT EXISTS (SELECT FROM ONLY {t} WHERE pg_column_compression({c}) IS NOT NULL)",
            t = table.qualified(),
            c = quote_ident(&column.name)
        );
        if source.query_one(&sql, &[]).await?.get::<_, bool>(0) {
            found.push(column.name.clone());
        }
    }
    Ok(found)
}

impl Table {
    /// `ALTER TABLE` setting the storage of `store_uncompressed` columns to
    /// `storage` (`EXTERNAL` for the copy, `EXTENDED` after it).
    pub fn set_storage_sql(&self, storage: &str) -> Option<String> {
        if self.store_uncompressed.is_empty() {
            return None;
        }
        let columns: Vec<String> = self
            .store_uncompressed
            .iter()
            .map(|c| format!("ALTER COLUMN {} SET STORAGE {storage}", quote_ident(c)))
            .collect();
        Some(format!(
            "ALTER TABLE ONLY {} {}",
            self.qualified(),
            columns.join(", ")
        ))
    }
}
