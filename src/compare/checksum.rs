//! The SQL that summarises one side: per-table row count and checksum,
//! sequence values, large-object digests. All read inside the side's snapshot.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio_postgres::Client;

use crate::sql::{quote_ident, quote_qualified};

use super::data::TableSum;

/// `schema.name` as the catalog spells it, unquoted: the key both sides share.
pub type RelName = (String, String);

/// Every ordinary table (and leaf partition) of the side with its live
/// columns, generated ones included. Read by name rather than OID, because
/// the OIDs differ between source and target.
pub async fn table_columns(client: &Client) -> Result<HashMap<RelName, Vec<String>>> {
    let rows = client
        .query(
            "SELECT n.nspname, c.relname, a.attname \
               FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
                    AND NOT a.attisdropped \
              WHERE c.relkind = 'r' \
                AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'",
            &[],
        )
        .await
        .context("listing table columns")?;
    let mut map: HashMap<RelName, Vec<String>> = HashMap::new();
    for r in rows {
        let cols = map.entry((r.try_get(0)?, r.try_get(1)?)).or_default();
        // A zero-column table comes back as one row with a NULL column name.
        if let Some(name) = r.try_get::<_, Option<String>>(2)? {
            cols.push(name);
        }
    }
    Ok(map)
}

/// The checksum query for one table over `columns`.
///
/// Each row is printed as a record of its columns, in name order: the
/// target's column positions may differ from the source's (dropped columns,
/// partitions attached with another column order) while the data is equal.
/// `ROW()` of no column is `()`, so zero-column tables work too. The text is
/// converted to UTF-8 so that two databases with different encodings hash
/// the same characters the same way; sha256 rather than md5 so that it runs
/// on FIPS-mode servers. The first 64 bits of each row's hash are summed as
/// numeric — exact, no overflow — which makes the result independent of row
/// order, and the count is kept next to it.
pub fn checksum_sql(schema: &str, table: &str, columns: &[String]) -> String {
    let mut sorted: Vec<&String> = columns.iter().collect();
    sorted.sort();
    let fields: Vec<String> = sorted
        .iter()
        .map(|c| format!("t.{}", quote_ident(c)))
        .collect();
    format!(
        "SELECT count(*), coalesce(sum(('x' || encode(substring(sha256(convert_to(\
         ROW({})::text, 'UTF8')) FROM 1 FOR 8), 'hex'))::bit(64)::bigint), 0)::text \
         FROM ONLY {} AS t",
        fields.join(", "),
        quote_qualified(schema, table)
    )
}

pub async fn table_sum(client: &Client, sql: &str) -> Result<TableSum> {
    let row = client.query_one(sql, &[]).await?;
    Ok(TableSum {
        rows: row.try_get(0)?,
        checksum: row.try_get(1)?,
    })
}

/// `(last_value, is_called)` of every sequence of the side, by name.
/// Sequences are not transactional: this is their current state.
pub async fn sequence_values(client: &Client) -> Result<BTreeMap<RelName, (i64, bool)>> {
    let names: Vec<RelName> = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind = 'S' \
                AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'",
            &[],
        )
        .await
        .context("listing sequences")?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    // One query per sequence, pipelined on the one connection.
    let reads = names.iter().map(|(s, n)| {
        let sql = format!(
            "SELECT last_value, is_called FROM {}",
            quote_qualified(s, n)
        );
        async move { client.query_one(&sql, &[]).await }
    });
    let rows = try_join_all(reads)
        .await
        .context("reading sequence values")?;
    names
        .into_iter()
        .zip(rows)
        .map(|(name, r)| -> Result<_> { Ok((name, (r.try_get(0)?, r.try_get(1)?))) })
        .collect()
}

/// The sha256 of every large object's contents, by OID (large objects keep
/// their OIDs in a copy, so the OID is the key).
pub async fn large_object_digests(client: &Client) -> Result<BTreeMap<u32, String>> {
    let rows = client
        .query(
            "SELECT oid, encode(sha256(lo_get(oid)), 'hex') \
               FROM pg_catalog.pg_largeobject_metadata",
            &[],
        )
        .await
        .context("reading large objects")?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// One order-independent summary of a set of large-object digests, for
/// display: the first 64 bits of each digest, mixed with its OID, summed.
pub fn large_objects_checksum(digests: &BTreeMap<u32, String>) -> String {
    let sum = digests.iter().fold(0u64, |acc, (oid, hex)| {
        let head = u64::from_str_radix(hex.get(..16).unwrap_or("0"), 16).unwrap_or(0);
        acc.wrapping_add(head ^ u64::from(*oid).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    });
    format!("{sum:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_in_name_order_and_quoted() {
        let sql = checksum_sql("public", "T", &["b".into(), "A".into(), "a".into()]);
        assert!(sql.contains("ROW(t.\"A\", t.a, t.b)"), "{sql}");
        assert!(sql.ends_with("FROM ONLY public.\"T\" AS t"), "{sql}");
    }

    #[test]
    fn zero_columns_hash_an_empty_record() {
        assert!(checksum_sql("s", "t", &[]).contains("ROW()::text"));
    }

    #[test]
    fn large_object_checksum_ignores_order() {
        let a: BTreeMap<u32, String> = [(1, "ff".repeat(32)), (2, "01".repeat(32))].into();
        let b: BTreeMap<u32, String> = [(2, "01".repeat(32)), (1, "ff".repeat(32))].into();
        assert_eq!(large_objects_checksum(&a), large_objects_checksum(&b));
        let c: BTreeMap<u32, String> = [(1, "01".repeat(32)), (2, "ff".repeat(32))].into();
        assert_ne!(large_objects_checksum(&a), large_objects_checksum(&c));
    }
}
