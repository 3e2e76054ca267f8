//! Catalog SQL, run on a source connection inside the run's snapshot.

use std::collections::HashMap;

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio_postgres::Client;

use super::columns::columns_sql;
use super::model::{Catalog, Column, Index, IndexConstraint, Sequence, Table};

/// Schemas that belong to the server, never copied.
pub(crate) const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'";

/// Objects that belong to an extension are created by CREATE EXTENSION.
pub(crate) const NOT_EXTENSION_MEMBER: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d \
     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')";

/// Where table sizes (heap plus TOAST) come from: they order the copy,
/// largest first, and decide which tables `--split-tables-larger-than` cuts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TableSizes {
    /// `pg_table_size()`: the size of the files (free space and visibility
    /// maps included), exact at the time it is read.
    #[default]
    Exact,
    /// `--estimate-table-sizes`: `relpages * block_size` of the heap and of
    /// its TOAST table, from the catalog. No file is looked at, but the figure
    /// is only as fresh as the last VACUUM or ANALYZE of the table, and a
    /// table never vacuumed nor analyzed has `relpages = 0`: it counts as
    /// empty (copied last, never split). Unlike the original pgcopydb, which
    /// runs `vacuumdb --analyze-only` on the source first, nothing is
    /// analyzed: the source is never written to.
    Estimated,
}

impl TableSizes {
    pub fn new(estimate: bool) -> TableSizes {
        if estimate {
            TableSizes::Estimated
        } else {
            TableSizes::Exact
        }
    }

    /// The SQL expression (int8, bytes) of the size of the `pg_class` row
    /// aliased `c`.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            // NULL for a table dropped since the snapshot: its copy says so.
            TableSizes::Exact => "coalesce(pg_table_size(c.oid), 0)",
            TableSizes::Estimated => {
                "((c.relpages::int8 + coalesce((SELECT toast.relpages::int8 FROM pg_class toast \
                                                WHERE toast.oid = c.reltoastrelid), 0)) \
                  * current_setting('block_size')::int8)"
            }
        }
    }
}

/// Ordinary tables and leaf partitions (relkind `r`: partitioned parents are
/// `p` and hold no rows), largest first.
fn tables_sql(sizes: TableSizes) -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname, c.relpersistence::text, \
                {size}, c.reltuples::float8 \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind = 'r' AND {SYSTEM_SCHEMAS} AND {NOT_EXTENSION_MEMBER} \
          ORDER BY 5 DESC, 2, 3",
        size = sizes.sql()
    )
}

/// Valid indexes of the tables, with the PRIMARY KEY / UNIQUE / EXCLUDE
/// constraint each one backs (FOREIGN KEYs also point at unique indexes
/// through conindid, hence the contype filter).
const INDEXES_SQL: &str = "\
    SELECT i.indexrelid, n.nspname, ic.relname, i.indrelid, pg_get_indexdef(i.indexrelid), \
           con.oid, con.conname, con.contype::text, con.condeferrable, con.condeferred, \
           pg_get_constraintdef(con.oid), \
           i.indisclustered, i.indisreplident, \
           ARRAY(SELECT format('%s %s', a.attnum, a.attstattarget) FROM pg_attribute a \
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) \
      FROM pg_index i \
      JOIN pg_class ic ON ic.oid = i.indexrelid \
      JOIN pg_namespace n ON n.oid = ic.relnamespace \
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid \
           AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') \
     WHERE i.indrelid = ANY($1) AND i.indisvalid AND i.indisready \
     ORDER BY i.indrelid, ic.relname";

fn sequences_sql() -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind = 'S' AND {SYSTEM_SCHEMAS} AND {NOT_EXTENSION_MEMBER} \
          ORDER BY 2, 3"
    )
}

/// Read everything the copy needs. `client` must be inside the snapshot
/// transaction so that sequence values and sizes match the data copied.
pub async fn read_catalog(
    client: &Client,
    with_large_objects: bool,
    sizes: TableSizes,
) -> Result<Catalog> {
    let mut tables = read_tables(client, sizes)
        .await
        .context("listing source tables")?;
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    attach_columns(client, &oids, &mut tables)
        .await
        .context("listing source columns")?;
    attach_indexes(client, &oids, &mut tables)
        .await
        .context("listing source indexes")?;
    let partitioned = super::partitioned::read_partitioned(client)
        .await
        .context("listing source partitioned tables")?;
    let parent_oids: Vec<u32> = partitioned.iter().map(|p| p.oid).collect();
    let foreign_keys = crate::foreign_keys::read_foreign_keys(client, &oids, &parent_oids)
        .await
        .context("listing source foreign keys")?;
    let sequences = read_sequences(client)
        .await
        .context("reading source sequences")?;
    let large_objects = if with_large_objects {
        client
            .query("SELECT oid FROM pg_largeobject_metadata ORDER BY oid", &[])
            .await
            .context("listing source large objects")?
            .iter()
            .map(|r| r.try_get::<_, u32>(0))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let encoding: String = client
        .query_one(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await?
        .try_get(0)?;
    let toast_compression: Option<String> = client
        .query_one(
            "SELECT current_setting('default_toast_compression', true)",
            &[],
        )
        .await?
        .try_get(0)?;
    let indexes: Vec<u32> = tables
        .iter()
        .flat_map(|t| t.indexes.iter().map(|i| i.oid))
        .collect();
    let relations: Vec<u32> = (oids.iter().chain(&indexes).copied())
        .chain(sequences.iter().map(|s| s.oid))
        .collect();
    let listing_names = super::listing::ListingNames::read(client, &relations, &indexes)
        .await
        .context("reading source restore list names")?;
    let mut tables: Vec<_> = tables.into_iter().map(Table::shared).collect();
    // The collect above reuses the room of the tables it consumed (each
    // many times the size of the pointer it now holds).
    tables.shrink_to_fit();
    Ok(Catalog {
        listing_names,
        tables,
        sequences,
        large_objects,
        encoding,
        foreign_keys,
        partitioned,
        selection: Default::default(),
        toast_compression,
    })
}

async fn read_tables(client: &Client, sizes: TableSizes) -> Result<Vec<Table>> {
    let rows = client.query(&tables_sql(sizes), &[]).await?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(Table {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                persistence: r.try_get::<_, String>(3)?.chars().next().unwrap_or('p'),
                bytes: r.try_get(4)?,
                estimated_rows: r.try_get(5)?,
                columns: Vec::new(),
                only_generated_columns: false,
                indexes: Vec::new(),
                parts: Vec::new(),
                copy_data: true,
            })
        })
        .collect()
}

async fn attach_columns(client: &Client, oids: &[u32], tables: &mut [Table]) -> Result<()> {
    let by_oid: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    let mut generated_count: HashMap<u32, usize> = HashMap::new();
    let major = crate::connections::server_major(client).await?;
    for row in client.query(&columns_sql(major), &[&oids]).await? {
        let oid: u32 = row.try_get(0)?;
        let Some(&i) = by_oid.get(&oid) else { continue };
        if row.try_get::<_, bool>(3)? {
            *generated_count.entry(oid).or_default() += 1;
            continue;
        }
        let Some(table) = tables.get_mut(i) else {
            continue;
        };
        let binary_not_portable: Option<String> = row.try_get(4)?;
        table.columns.push(Column {
            name: row.try_get(1)?,
            type_name: row.try_get(2)?,
            binary_safe: binary_not_portable.is_none(),
            binary_not_portable,
            extended: row.try_get(5)?,
        });
    }
    for t in tables.iter_mut() {
        t.only_generated_columns = t.columns.is_empty() && generated_count.contains_key(&t.oid);
    }
    Ok(())
}

async fn attach_indexes(client: &Client, oids: &[u32], tables: &mut [Table]) -> Result<()> {
    let by_oid: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    for row in client.query(INDEXES_SQL, &[&oids]).await? {
        let table_oid: u32 = row.try_get(3)?;
        let Some(&i) = by_oid.get(&table_oid) else {
            continue;
        };
        let constraint = index_constraint(&row, 5)?;
        let (schema, name): (String, String) = (row.try_get(1)?, row.try_get(2)?);
        let definition = definition_of(&row, 4, || format!("index {schema}.{name}"))?;
        let Some(table) = tables.get_mut(i) else {
            continue;
        };
        table.indexes.push(Index {
            oid: row.try_get(0)?,
            schema,
            name,
            table_oid,
            definition,
            constraint,
            clustered: row.try_get(11)?,
            replica_identity: row.try_get(12)?,
            column_statistics: column_statistics(&row, 13)?,
        });
    }
    Ok(())
}

pub(crate) async fn read_sequences(client: &Client) -> Result<Vec<Sequence>> {
    let rows = client.query(&sequences_sql(), &[]).await?;
    let mut sequences: Vec<Sequence> = rows
        .iter()
        .map(|r| -> Result<_> {
            Ok(Sequence {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                last_value: 0,
                is_called: false,
            })
        })
        .collect::<Result<_>>()?;
    // One query per sequence, pipelined on the one connection.
    let queries = sequences.iter().map(|s| {
        let sql = format!("SELECT last_value, is_called FROM {}", s.qualified());
        async move { client.query_one(&sql, &[]).await }
    });
    let values = try_join_all(queries).await?;
    for (s, row) in sequences.iter_mut().zip(values) {
        s.last_value = row.try_get(0)?;
        s.is_called = row.try_get(1)?;
    }
    Ok(sequences)
}

/// Tables (ordinary or partitioned) that already exist on the target, as
/// `schema.name` labels, to refuse overwriting them by accident.
pub async fn existing_target_tables(target: &Client) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p') AND {SYSTEM_SCHEMAS} AND {NOT_EXTENSION_MEMBER}"
    );
    target
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// A `pg_get_indexdef`/`pg_get_constraintdef` column: these read the current
/// catalog, not the snapshot, and give NULL for an object dropped since.
pub(crate) fn definition_of(
    row: &tokio_postgres::Row,
    at: usize,
    object: impl FnOnce() -> String,
) -> Result<String> {
    row.try_get::<_, Option<String>>(at)?.with_context(|| {
        format!(
            "{} was dropped on the source while its catalog was read; run again",
            object()
        )
    })
}

/// The PRIMARY KEY / UNIQUE / EXCLUDE constraint columns of an index query
/// row, starting at column `at`: oid, name, kind, deferrable, deferred,
/// definition (all NULL when the index backs no constraint).
pub(crate) fn index_constraint(
    row: &tokio_postgres::Row,
    at: usize,
) -> Result<Option<IndexConstraint>> {
    let Some(oid) = row.try_get::<_, Option<u32>>(at)? else {
        return Ok(None);
    };
    let name: String = row.try_get(at + 1)?;
    let definition = definition_of(row, at + 5, || format!("constraint {name}"))?;
    Ok(Some(IndexConstraint {
        oid,
        name,
        kind: row
            .try_get::<_, String>(at + 2)?
            .chars()
            .next()
            .unwrap_or('u'),
        deferrable: row.try_get(at + 3)?,
        deferred: row.try_get(at + 4)?,
        definition,
    }))
}

/// Per-column statistics targets of an index, read as `'attnum target'`
/// strings from column `at`.
pub(crate) fn column_statistics(row: &tokio_postgres::Row, at: usize) -> Result<Vec<(i16, i32)>> {
    Ok(row
        .try_get::<_, Vec<String>>(at)?
        .iter()
        .filter_map(|s| {
            let (n, v) = s.split_once(' ')?;
            Some((n.parse().ok()?, v.parse().ok()?))
        })
        .collect())
}
