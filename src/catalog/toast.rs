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

/// The check reads the table's heap (never its TOAST): only worth it when the
/// out-of-line values, whose compression attempts it saves, are at least a
/// quarter of the heap's size.
const HEAP_PER_TOAST: i64 = 4;

/// The EXTENDED columns of `table` without a single compressed value on the
/// source, for a table worth checking. `source` is inside the snapshot, on
/// PostgreSQL 14+ (`pg_column_compression`). Each column's scan stops at its
/// first compressed value. Runs in the copy worker, just before the copy, so
/// that checks of several tables overlap with other copies.
pub async fn uncompressed_columns(source: &Client, table: &Table) -> Result<Vec<String>> {
    let mut found = Vec::new();
    if !table.columns.iter().any(|c| c.extended) {
        return Ok(found);
    }
    let Some(sizes) = source.query_opt(SIZES_SQL, &[&table.oid]).await? else {
        return Ok(found);
    };
    let (heap, toast): (i64, i64) = (sizes.get(0), sizes.get(1));
    if toast == 0 || heap > HEAP_PER_TOAST * toast {
        return Ok(found);
    }
    let started = Instant::now();
    for column in table.columns.iter().filter(|c| c.extended) {
        let sql = format!(
            "SELECT NOT EXISTS (SELECT FROM ONLY {t} WHERE pg_column_compression({c}) IS NOT NULL)",
            t = table.qualified(),
            c = quote_ident(&column.name)
        );
        let none: bool = source
            .query_one(&sql, &[])
            .await
            .with_context(|| format!("reading the compression of {}", table.label()))?
            .get(0);
        if none {
            found.push(column.name.clone());
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
