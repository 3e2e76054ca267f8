//! Relations of the source database as `list` shows them: tables with why
//! the copy would skip them, sequences, indexes, split keys, dependents.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use super::{extension_of, user_schema, ListScope};
use crate::catalog::parts::SplitKey;
use crate::catalog::TableSizes;
use crate::sql::{quote_ident, quote_qualified};

#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `r` table, `p` partitioned table, `f` foreign table, `m` materialized view.
    pub relkind: String,
    /// Heap plus TOAST: `pg_table_size`, or the catalog estimate with
    /// `--estimate-table-sizes` (see [`TableSizes`]).
    pub bytes: i64,
    /// Exact pages of the main fork.
    pub heap_pages: i64,
    /// `reltuples`; `None` when the table was never vacuumed or analyzed.
    pub estimated_rows: Option<i64>,
    pub has_pkey: bool,
    pub access_method: Option<String>,
    /// The extension this table belongs to, if any.
    pub extension: Option<String>,
    /// Why the copy does not copy this table's rows; `None` when it does.
    pub skipped: Option<String>,
}

impl TableRow {
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn copied(&self) -> bool {
        self.skipped.is_none()
    }
}

/// The copy reads exactly the ordinary tables and leaf partitions that no
/// extension owns (see `catalog::read_catalog`) and that `--filters` keeps;
/// everything else says why.
fn skip_reason(
    relkind: &str,
    extension: Option<&str>,
    in_scope: bool,
    data_in_scope: bool,
) -> Option<String> {
    if let Some(ext) = extension {
        return Some(format!(
            "belongs to extension {ext} (CREATE EXTENSION makes it)"
        ));
    }
    let reason = match relkind {
        _ if !in_scope => "excluded by --filters",
        "r" if !data_in_scope => "data excluded by --filters (exclude-table-data)",
        "r" => return None,
        "p" => "partitioned table: its partitions are copied",
        "f" => "foreign table: its rows live on the foreign server",
        "m" if !data_in_scope => "materialized view: not refreshed (exclude-table-data)",
        "m" => "materialized view: refreshed on the target, not copied",
        _ => "not a table",
    };
    Some(reason.to_string())
}

/// Tables, partitioned tables, foreign tables and materialized views of the
/// user schemas, largest first (the order the copy starts them in).
pub async fn tables(
    client: &Client,
    scope: &dyn ListScope,
    sizes: TableSizes,
) -> Result<Vec<TableRow>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, \
                {size}, \
                coalesce(pg_relation_size(c.oid, 'main'), 0) / current_setting('block_size')::int8, \
                c.reltuples::float8, \
                EXISTS (SELECT 1 FROM pg_constraint k \
                         WHERE k.conrelid = c.oid AND k.contype = 'p'), \
                am.amname::text, {ext} \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_am am ON am.oid = c.relam \
          WHERE c.relkind IN ('r', 'p', 'f', 'm') AND {user} \
          ORDER BY 5 DESC, 2, 3",
        size = sizes.sql(),
        ext = extension_of("pg_class", "c.oid"),
        user = user_schema("n"),
    );
    let rows = client.query(&sql, &[]).await.context("listing tables")?;
    rows.iter()
        .map(|r| -> Result<_> {
            let schema: String = r.try_get(1)?;
            let name: String = r.try_get(2)?;
            let relkind: String = r.try_get(3)?;
            let extension: Option<String> = r.try_get(9)?;
            let in_scope = scope.table(&schema, &name);
            let data_in_scope = scope.table_data(&schema, &name);
            let reltuples: f64 = r.try_get(6)?;
            Ok(TableRow {
                oid: r.try_get(0)?,
                skipped: skip_reason(&relkind, extension.as_deref(), in_scope, data_in_scope),
                schema,
                name,
                relkind,
                bytes: r.try_get(4)?,
                heap_pages: r.try_get(5)?,
                // -1 means "never analyzed" since PostgreSQL 14; 13 says 0.
                estimated_rows: (reltuples >= 0.0).then_some(reltuples as i64),
                has_pkey: r.try_get(7)?,
                access_method: r.try_get(8)?,
                extension,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct SequenceRow {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub data_type: String,
    /// `None` when nextval was never called, or the user may not read it.
    pub last_value: Option<i64>,
    /// `schema.table.column` of an owned (serial or identity) sequence.
    pub owned_by: Option<String>,
    /// The original's keys: the owning table (`OWNED BY`), the first table
    /// with a column DEFAULT using the sequence and that DEFAULT's
    /// `pg_attrdef` oid; 0 when none.
    pub ownedby: u32,
    pub attrelid: u32,
    pub attroid: u32,
    #[serde(rename = "restore-list-name")]
    pub restore_list_name: String,
}

/// Sequences the copy sets on the target (extension members left out).
pub async fn sequences(client: &Client, scope: &dyn ListScope) -> Result<Vec<SequenceRow>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), \
                CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') \
                     THEN pg_sequence_last_value(c.oid) END, \
                tn.nspname || '.' || t.relname || '.' || a.attname, \
                coalesce(t.oid, 0), coalesce(def.adrelid, 0), coalesce(def.oid, 0), \
                concat_ws(' ', n.nspname, c.relname, pg_get_userbyid(c.relowner)) \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_sequence s ON s.seqrelid = c.oid \
           LEFT JOIN LATERAL (SELECT ad.oid, ad.adrelid FROM pg_depend dd \
                 JOIN pg_attrdef ad ON ad.oid = dd.objid \
                WHERE dd.classid = 'pg_attrdef'::regclass AND dd.refobjid = c.oid \
                  AND dd.refclassid = 'pg_class'::regclass \
                ORDER BY ad.adrelid, ad.adnum LIMIT 1) def ON true \
           LEFT JOIN LATERAL (SELECT dd.refobjid, dd.refobjsubid FROM pg_depend dd \
                WHERE dd.classid = 'pg_class'::regclass AND dd.objid = c.oid \
                  AND dd.refclassid = 'pg_class'::regclass AND dd.deptype IN ('a', 'i') \
                ORDER BY dd.deptype DESC, dd.refobjid, dd.refobjsubid LIMIT 1) d ON true \
           LEFT JOIN pg_class t ON t.oid = d.refobjid \
           LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace \
           LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
          WHERE c.relkind = 'S' AND {user} AND {ext} IS NULL \
          ORDER BY 2, 3",
        ext = extension_of("pg_class", "c.oid"),
        user = user_schema("n"),
    );
    let rows = client.query(&sql, &[]).await.context("listing sequences")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(SequenceRow {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                data_type: r.try_get(3)?,
                last_value: r.try_get(4)?,
                owned_by: r.try_get(5)?,
                ownedby: r.try_get(6)?,
                attrelid: r.try_get(7)?,
                attroid: r.try_get(8)?,
                restore_list_name: r.try_get::<_, String>(9)?.replace(['\n', '\r'], " "),
            })
        })
        .filter(|s| {
            s.as_ref()
                .map_or(true, |s| scope.sequence(&s.schema, &s.name))
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexRow {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub table_schema: String,
    pub table_name: String,
    pub primary: bool,
    pub unique: bool,
    /// The PRIMARY KEY, UNIQUE or EXCLUDE constraint the index backs.
    pub constraint: Option<String>,
    pub bytes: i64,
    pub definition: String,
    /// `pg_get_constraintdef` of that constraint (`PRIMARY KEY (id)`).
    pub constraint_definition: Option<String>,
}

/// Valid indexes of the tables the copy reads; the copy builds each one.
pub async fn indexes(client: &Client, scope: &dyn ListScope) -> Result<Vec<IndexRow>> {
    let sql = format!(
        "SELECT i.indexrelid, n.nspname::text, ic.relname::text, tn.nspname::text, \
                t.relname::text, i.indisprimary, i.indisunique, con.conname::text, \
                coalesce(pg_relation_size(i.indexrelid), 0), pg_get_indexdef(i.indexrelid), \
                pg_get_constraintdef(con.oid) \
           FROM pg_index i \
           JOIN pg_class ic ON ic.oid = i.indexrelid \
           JOIN pg_namespace n ON n.oid = ic.relnamespace \
           JOIN pg_class t ON t.oid = i.indrelid \
           JOIN pg_namespace tn ON tn.oid = t.relnamespace \
           LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid \
                AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') \
          WHERE t.relkind = 'r' AND {user} AND {ext} IS NULL \
            AND i.indisvalid AND i.indisready \
          ORDER BY tn.nspname, t.relname, ic.relname",
        ext = extension_of("pg_class", "t.oid"),
        user = user_schema("tn"),
    );
    let rows = client.query(&sql, &[]).await.context("listing indexes")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(IndexRow {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                table_schema: r.try_get(3)?,
                table_name: r.try_get(4)?,
                primary: r.try_get(5)?,
                unique: r.try_get(6)?,
                constraint: r.try_get(7)?,
                bytes: r.try_get(8)?,
                definition: r.try_get(9)?,
                constraint_definition: r.try_get(10)?,
            })
        })
        .filter(|i| {
            i.as_ref().map_or(true, |i| {
                scope.table(&i.table_schema, &i.table_name) && scope.index(&i.schema, &i.name)
            })
        })
        .collect()
}

/// The split key of each table in `tables` that has one: the first
/// single-column, non-partial unique index on int2/int4/int8, PK first,
/// with `min` and `max` read from the table.
pub async fn split_keys(client: &Client, tables: &[&TableRow]) -> Result<HashMap<u32, SplitKey>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let mut keys = HashMap::new();
    for (oid, (column, nullable)) in split_key_columns(client, &oids).await? {
        let Some(table) = tables.iter().find(|t| t.oid == oid) else {
            continue;
        };
        let bounds = format!(
            "SELECT min({c})::int8, max({c})::int8 FROM {t}",
            c = quote_ident(&column),
            t = quote_qualified(&table.schema, &table.name)
        );
        let b = client
            .query_one(&bounds, &[])
            .await
            .with_context(|| format!("reading the key range of {}", table.label()))?;
        keys.insert(
            oid,
            SplitKey {
                column,
                nullable,
                min: b.try_get(0)?,
                max: b.try_get(1)?,
            },
        );
    }
    Ok(keys)
}

/// The column each table of `oids` would be split on (the original's
/// `part-key`), and whether it can hold NULLs, without reading the table.
pub async fn split_key_columns(
    client: &Client,
    oids: &[u32],
) -> Result<HashMap<u32, (String, bool)>> {
    const SQL: &str = "\
        SELECT DISTINCT ON (i.indrelid) i.indrelid, a.attname::text, \
               NOT (i.indisprimary OR a.attnotnull) \
          FROM pg_index i \
          JOIN pg_class ic ON ic.oid = i.indexrelid \
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = ANY($1) AND i.indisunique AND i.indisvalid \
           AND i.indnkeyatts = 1 AND i.indkey[0] <> 0 AND i.indpred IS NULL \
           AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) \
         ORDER BY i.indrelid, i.indisprimary DESC, ic.relname";
    let mut columns = HashMap::new();
    for row in client
        .query(SQL, &[&oids])
        .await
        .context("finding split keys")?
    {
        columns.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    Ok(columns)
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependent {
    /// `sequence`, `view`, `materialized view`, `foreign key`, `trigger`, `policy`.
    pub kind: String,
    pub schema: String,
    pub name: String,
    /// The owning column of a sequence, or the table a foreign key is on.
    pub detail: String,
}

/// For each table oid, the objects that cannot exist without it, so that a
/// filter leaving the table out can leave them out too. Partition clones of
/// foreign keys and triggers are folded into their parent's entry.
pub async fn dependents(client: &Client) -> Result<HashMap<u32, Vec<Dependent>>> {
    const SQL: &str = "\
        SELECT d.refobjid, 'sequence', sn.nspname::text, s.relname::text, \
               coalesce('owned by column ' || a.attname, '') \
          FROM pg_depend d \
          JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
          JOIN pg_namespace sn ON sn.oid = s.relnamespace \
          LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
           AND d.deptype IN ('a', 'i') \
        UNION \
        SELECT d.refobjid, CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, \
               vn.nspname::text, v.relname::text, '' \
          FROM pg_depend d \
          JOIN pg_rewrite r ON r.oid = d.objid \
          JOIN pg_class v ON v.oid = r.ev_class \
          JOIN pg_namespace vn ON vn.oid = v.relnamespace \
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
           AND r.ev_class <> d.refobjid \
        UNION \
        SELECT con.confrelid, 'foreign key', tn.nspname::text, con.conname::text, \
               'on ' || tn.nspname || '.' || t.relname \
          FROM pg_constraint con \
          JOIN pg_class t ON t.oid = con.conrelid \
          JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         WHERE con.contype = 'f' AND con.conrelid <> con.confrelid AND con.conparentid = 0 \
        UNION \
        SELECT tg.tgrelid, 'trigger', n.nspname::text, tg.tgname::text, '' \
          FROM pg_trigger tg \
          JOIN pg_class c ON c.oid = tg.tgrelid \
          JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT tg.tgisinternal AND tg.tgparentid = 0 \
        UNION \
        SELECT p.polrelid, 'policy', n.nspname::text, p.polname::text, '' \
          FROM pg_policy p \
          JOIN pg_class c ON c.oid = p.polrelid \
          JOIN pg_namespace n ON n.oid = c.relnamespace \
        ORDER BY 1, 2, 3, 4";
    let mut by_table: HashMap<u32, Vec<Dependent>> = HashMap::new();
    for r in client
        .query(SQL, &[])
        .await
        .context("listing dependencies")?
    {
        by_table.entry(r.try_get(0)?).or_default().push(Dependent {
            kind: r.try_get(1)?,
            schema: r.try_get(2)?,
            name: r.try_get(3)?,
            detail: r.try_get(4)?,
        });
    }
    Ok(by_table)
}
