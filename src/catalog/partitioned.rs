//! Partitioned tables (relkind `p`) and their indexes, read under the
//! snapshot so that the data phase can build a parent's indexes and
//! constraints as soon as its partitions are complete, instead of leaving
//! them to the post-data restore at the very end.
//!
//! A parent's index is built exactly as pg_dump's post-data would: `CREATE
//! INDEX ... ON ONLY parent` (or `ALTER TABLE ONLY parent ADD CONSTRAINT`
//! for a PRIMARY KEY / UNIQUE / EXCLUDE), then one `ALTER INDEX ... ATTACH
//! PARTITION` per child index, so that it turns valid exactly when the
//! source's is.

use std::collections::HashMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::model::Index;
use super::queries::{NOT_EXTENSION_MEMBER, SYSTEM_SCHEMAS};
use crate::sql::quote_qualified;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionedTable {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Direct partitions: leaf tables, partitioned tables, foreign tables.
    pub partitions: Vec<u32>,
    pub indexes: Vec<ParentIndex>,
}

impl PartitionedTable {
    /// A partitioned table `s.p<oid>` over `partitions`, without indexes,
    /// for unit tests of the planning code.
    #[cfg(test)]
    pub fn for_test(oid: u32, partitions: &[u32]) -> PartitionedTable {
        PartitionedTable {
            oid,
            schema: "s".into(),
            name: format!("p{oid}"),
            partitions: partitions.to_vec(),
            indexes: Vec::new(),
        }
    }

    pub fn qualified(&self) -> String {
        quote_qualified(&self.schema, &self.name)
    }
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// An index of a partitioned table (relkind `I`), with the indexes of the
/// partitions attached to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParentIndex {
    /// `definition` is `CREATE INDEX name ON ONLY ...`.
    pub index: Index,
    pub children: Vec<ChildIndex>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildIndex {
    pub oid: u32,
    pub schema: String,
    pub name: String,
}

impl ChildIndex {
    pub fn qualified(&self) -> String {
        quote_qualified(&self.schema, &self.name)
    }
}

fn partitioned_sql() -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname, \
                ARRAY(SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = c.oid ORDER BY 1) \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind = 'p' AND {SYSTEM_SCHEMAS} AND {NOT_EXTENSION_MEMBER} \
          ORDER BY 2, 3"
    )
}

/// Indexes of partitioned tables. Unlike those of plain tables, invalid ones
/// are kept: a partitioned index is invalid while a partition lacks its
/// child, and pg_dump dumps it so (attaching only the children it has).
const PARENT_INDEXES_SQL: &str = "\
    SELECT i.indexrelid, n.nspname, ic.relname, i.indrelid, pg_get_indexdef(i.indexrelid), \
           con.oid, con.conname, con.contype::text, con.condeferrable, con.condeferred, \
           pg_get_constraintdef(con.oid), i.indisreplident, \
           ARRAY(SELECT format('%s %s', a.attnum, a.attstattarget) FROM pg_attribute a \
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum), \
           ARRAY(SELECT h.inhrelid FROM pg_inherits h WHERE h.inhparent = i.indexrelid ORDER BY 1), \
           ARRAY(SELECT cn.nspname::text FROM pg_inherits h JOIN pg_class cc ON cc.oid = h.inhrelid \
                   JOIN pg_namespace cn ON cn.oid = cc.relnamespace \
                  WHERE h.inhparent = i.indexrelid ORDER BY h.inhrelid), \
           ARRAY(SELECT cc.relname::text FROM pg_inherits h JOIN pg_class cc ON cc.oid = h.inhrelid \
                  WHERE h.inhparent = i.indexrelid ORDER BY h.inhrelid) \
      FROM pg_index i \
      JOIN pg_class ic ON ic.oid = i.indexrelid \
      JOIN pg_namespace n ON n.oid = ic.relnamespace \
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid \
           AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') \
     WHERE i.indrelid = ANY($1) AND ic.relkind = 'I' \
     ORDER BY i.indrelid, ic.relname";

pub async fn read_partitioned(client: &Client) -> Result<Vec<PartitionedTable>> {
    let mut tables: Vec<PartitionedTable> = client
        .query(&partitioned_sql(), &[])
        .await?
        .iter()
        .map(|r| -> Result<_> {
            Ok(PartitionedTable {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                partitions: r.try_get(3)?,
                indexes: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    if tables.is_empty() {
        return Ok(tables);
    }
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let by_oid: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    for row in client.query(PARENT_INDEXES_SQL, &[&oids]).await? {
        let table_oid: u32 = row.try_get(3)?;
        let Some(&t) = by_oid.get(&table_oid) else {
            continue;
        };
        let constraint = super::queries::index_constraint(&row, 5)?;
        let child_oids: Vec<u32> = row.try_get(13)?;
        let child_schemas: Vec<String> = row.try_get(14)?;
        let child_names: Vec<String> = row.try_get(15)?;
        let children = child_oids
            .into_iter()
            .zip(child_schemas)
            .zip(child_names)
            .map(|((oid, schema), name)| ChildIndex { oid, schema, name })
            .collect();
        let Some(table) = tables.get_mut(t) else {
            continue;
        };
        let (schema, name): (String, String) = (row.try_get(1)?, row.try_get(2)?);
        let definition =
            super::queries::definition_of(&row, 4, || format!("index {schema}.{name}"))?;
        table.indexes.push(ParentIndex {
            index: Index {
                oid: row.try_get(0)?,
                schema,
                name,
                table_oid,
                definition,
                constraint,
                clustered: false,
                replica_identity: row.try_get(11)?,
                column_statistics: super::queries::column_statistics(&row, 12)?,
            },
            children,
        });
    }
    Ok(tables)
}
