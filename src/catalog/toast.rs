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

use super::Table;
use crate::sql::quote_ident;

/// Heap and TOAST sizes, when the table has a TOAST relation.
const SIZES_SQL: &str = "\
    SELECT pg_relation_size(c.oid), pg_relation_size(c.reltoastrelid) \
      FROM pg_class c \
     WHERE c.oid = $1 AND c.reltoastrelid <> 0";

/// The check reads the table's heap once (never its TOAST): only done when
/// the out-of-line values, whose compression attempts it may save, are at
/// least as large as the heap, so that it costs a fraction of the copy.
const HEAP_PER_TOAST: i64 = 1;

/// The EXTENDED columns of `table` without a single compressed value on the
/// source, for a table worth checking. `source` is inside the snapshot, on
/// PostgreSQL 14+ (`pg_column_compression`). One scan of the heap answers
/// for every column. Runs in the copy worker, just before the copy, so that
/// checks of several tables overlap with other copies.
pub async fn uncompressed_columns(source: &Client, table: &Table) -> Result<Vec<String>> {
    let mut found = Vec::new();
    if !table.columns.iter().any(|c| c.extended) {
        return Ok(found);
    }
    let Some(sizes) = source.query_opt(SIZES_SQL, &[&table.oid]).await? else {
        return Ok(found);
    };
    // NULL when the table or its TOAST relation is gone from the source
    // since the snapshot (dropped, or rewritten with a new TOAST): the check
    // is only an optimisation, the copy says what became of the table.
    let (Some(heap), Some(toast)) = (
        sizes.try_get::<_, Option<i64>>(0)?,
        sizes.try_get::<_, Option<i64>>(1)?,
    ) else {
        return Ok(found);
    };
    if toast == 0 || heap > HEAP_PER_TOAST * toast {
        return Ok(found);
    }
    let started = Instant::now();
    let extended: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.extended)
        .map(|c| c.name.as_str())
        .collect();
    // true when some value of the column is compressed; NULL for no rows.
    let tests: Vec<String> = extended
        .iter()
        .map(|c| {
            format!(
                "bool_or(pg_column_compression({}) IS NOT NULL)",
                quote_ident(c)
            )
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM ONLY {}",
        tests.join(", "),
        table.qualified()
    );
    let row = source
        .query_one(&sql, &[])
        .await
        .with_context(|| format!("reading the compression of {}", table.label()))?;
    for (i, column) in extended.iter().enumerate() {
        if !row.try_get::<_, Option<bool>>(i)?.unwrap_or(false) {
            found.push(column.to_string());
        }
    }
    tracing::debug!(
        "{}: {} of its EXTENDED columns hold no compressed value ({:?} to check)",
        table.label(),
        found.len(),
        started.elapsed()
    );
    Ok(found)
}

/// `ALTER TABLE` setting the storage of `columns` of `table` to `storage`
/// (`EXTERNAL` for the copy, `EXTENDED` after it).
pub fn set_storage_sql(table: &Table, columns: &[String], storage: &str) -> Option<String> {
    if columns.is_empty() {
        return None;
    }
    let clauses: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER COLUMN {} SET STORAGE {storage}", quote_ident(c)))
        .collect();
    Some(format!(
        "ALTER TABLE ONLY {} {}",
        table.qualified(),
        clauses.join(", ")
    ))
}
