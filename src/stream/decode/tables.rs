//! What the text plugins do not say about a table, read from the source's
//! catalog before the stream starts: its OID (the text decoders' relation
//! id, the same number pgoutput uses), its replica identity, which columns
//! are part of it, the columns' type OIDs, and which columns are generated.
//!
//! `test_decoding` never says which columns are the key of an INSERT or an
//! UPDATE (only a DELETE's or a key-changing UPDATE's old key shows some),
//! nor whether the identity is FULL; wal2json's `include-pk` names the
//! primary key only, not a `REPLICA IDENTITY USING INDEX` index nor FULL.
//! So both read keys from here, with pgoutput's rules
//! (`logicalrep_write_attrs`): under FULL every column is flagged as key,
//! under DEFAULT the primary key's columns (none without one), under USING
//! INDEX the index's, under NOTHING none; generated columns are never sent.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::stream::change::{Column, RelId, Relation, ReplicaIdentity};

/// One table as the source's catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub oid: RelId,
    pub schema: String,
    pub name: String,
    pub replica_identity: ReplicaIdentity,
    /// Every column in attribute order, generated ones included (the text
    /// plugins print them; the decoders drop them).
    pub columns: Vec<TableColumn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    pub is_key: bool,
    pub generated: bool,
}

impl TableShape {
    /// The relation pgoutput would describe for this table.
    pub fn relation(&self) -> Relation {
        Relation {
            id: self.oid,
            schema: self.schema.clone(),
            name: self.name.clone(),
            replica_identity: self.replica_identity,
            columns: self
                .columns
                .iter()
                .filter(|c| !c.generated)
                .map(|c| Column {
                    name: c.name.clone(),
                    type_oid: c.type_oid,
                    type_modifier: c.type_modifier,
                    is_key: c.is_key,
                })
                .collect(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&TableColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The source's tables by schema-qualified name (schema, then name: a
/// lookup with borrowed names allocates nothing, once per change).
#[derive(Debug, Clone, Default)]
pub struct SourceTables {
    by_name: HashMap<String, HashMap<String, Arc<TableShape>>>,
}

/// Ordinary and partitioned tables outside the system schemas (permanent
/// ones: the others write no WAL, so never stream), one row per
/// column: whether the column is in the index that is the table's replica
/// identity (the primary key for DEFAULT, the chosen index for USING INDEX).
const TABLES_SQL: &str = "\
SELECT c.oid, n.nspname, c.relname, c.relreplident::text, a.attname, a.atttypid, a.atttypmod, \
       a.attgenerated <> '' AS generated, \
       COALESCE(a.attnum = ANY (i.indkey::int2[]), false) AS in_identity_index \
  FROM pg_class c \
  JOIN pg_namespace n ON n.oid = c.relnamespace \
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
  LEFT JOIN pg_index i ON i.indrelid = c.oid \
       AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END \
 WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' \
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
 ORDER BY c.oid, a.attnum";

impl SourceTables {
    /// Reads every table of the connected database. Run it before the
    /// stream starts (a table created later is unknown to the text
    /// decoders, which then stop on its first change and say so).
    pub async fn load(client: &Client) -> Result<SourceTables> {
        let rows = client
            .query_typed(TABLES_SQL, &[])
            .await
            .context("reading the source tables' replica identities")?;
        let mut shapes: Vec<TableShape> = Vec::new();
        for row in rows {
            let oid: u32 = row.try_get(0)?;
            let schema: String = row.try_get(1)?;
            let name: String = row.try_get(2)?;
            let identity: String = row.try_get(3)?;
            let column = TableColumn {
                name: row.try_get(4)?,
                type_oid: row.try_get(5)?,
                type_modifier: row.try_get(6)?,
                is_key: row.try_get(8)?,
                generated: row.try_get(7)?,
            };
            match shapes.last_mut() {
                Some(last) if last.oid == oid => last.columns.push(column),
                _ => {
                    let replica_identity = match identity.as_str() {
                        "d" => ReplicaIdentity::Default,
                        "n" => ReplicaIdentity::Nothing,
                        "f" => ReplicaIdentity::Full,
                        "i" => ReplicaIdentity::Index,
                        other => anyhow::bail!(
                            "table {schema}.{name} has replica identity {other:?}, which this \
                             version does not know"
                        ),
                    };
                    shapes.push(TableShape {
                        oid,
                        schema,
                        name,
                        replica_identity,
                        columns: vec![column],
                    });
                }
            }
        }
        Ok(SourceTables::new(shapes))
    }

    /// Builds the map from shapes; FULL identity makes every column a key
    /// column and NOTHING none, whatever the index rows said.
    pub fn new(shapes: Vec<TableShape>) -> SourceTables {
        let mut by_name: HashMap<String, HashMap<String, Arc<TableShape>>> = HashMap::new();
        for mut shape in shapes {
            for column in &mut shape.columns {
                column.is_key = match shape.replica_identity {
                    ReplicaIdentity::Full => !column.generated,
                    ReplicaIdentity::Nothing => false,
                    ReplicaIdentity::Default | ReplicaIdentity::Index => column.is_key,
                };
            }
            by_name
                .entry(shape.schema.clone())
                .or_default()
                .insert(shape.name.clone(), Arc::new(shape));
        }
        SourceTables { by_name }
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<&Arc<TableShape>> {
        self.by_name.get(schema)?.get(name)
    }

    /// Tables whose UPDATE and DELETE cannot be located: identity NOTHING,
    /// or DEFAULT without a primary key (or USING an index since dropped).
    /// wal2json leaves their UPDATEs and DELETEs out of the stream without
    /// a trace, and the applier cannot apply them from any plugin.
    pub fn without_identity(&self) -> Vec<&TableShape> {
        let mut shapes: Vec<&TableShape> = self
            .by_name
            .values()
            .flat_map(|tables| tables.values())
            .filter(|shape| !shape.columns.iter().any(|c| c.is_key))
            .map(|shape| shape.as_ref())
            .collect();
        shapes.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        shapes
    }

    pub fn len(&self) -> usize {
        self.by_name.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, identity: ReplicaIdentity, in_index: &[bool]) -> TableShape {
        TableShape {
            oid: 1,
            schema: "s".into(),
            name: name.into(),
            replica_identity: identity,
            columns: in_index
                .iter()
                .enumerate()
                .map(|(i, &is_key)| TableColumn {
                    name: format!("c{i}"),
                    type_oid: 23,
                    type_modifier: -1,
                    is_key,
                    generated: i == 2,
                })
                .collect(),
        }
    }

    #[test]
    fn keys_follow_pgoutput_rules() {
        let tables = SourceTables::new(vec![
            shape("full", ReplicaIdentity::Full, &[false, false, false]),
            shape("nothing", ReplicaIdentity::Nothing, &[true, false]),
            shape("pk", ReplicaIdentity::Default, &[true, false]),
            shape("no_pk", ReplicaIdentity::Default, &[false, false]),
            shape("index", ReplicaIdentity::Index, &[false, true]),
        ]);
        let keys = |name: &str| -> Vec<String> {
            tables
                .get("s", name)
                .unwrap()
                .relation()
                .columns
                .iter()
                .filter(|c| c.is_key)
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(
            keys("full"),
            ["c0", "c1"],
            "every column but the generated one"
        );
        assert!(keys("nothing").is_empty());
        assert_eq!(keys("pk"), ["c0"]);
        assert_eq!(keys("index"), ["c1"]);
        let without: Vec<&str> = tables
            .without_identity()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(without, ["no_pk", "nothing"]);
    }
}
