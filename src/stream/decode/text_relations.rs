//! The relations of the text plugins' streams (`test_decoding`, wal2json),
//! which name a table in every change instead of describing it once: each
//! schema-qualified name gets the table's source OID as its id (what
//! pgoutput uses), a [`Change::Relation`] before its first change, and a new
//! one whenever a change lists a different set of columns (a column added
//! or dropped on the source while streaming).

use std::collections::HashMap;
use std::sync::Arc;

use super::tables::{SourceTables, TableShape};
use crate::stream::change::{Change, Column, Relation, ReplicaIdentity, Tuple, Value};

/// One column of a tuple as the plugin printed it.
#[derive(Debug)]
pub(super) struct Printed {
    pub name: String,
    /// The type OID when the plugin says it (wal2json's `include-type-oids`).
    pub type_oid: Option<u32>,
    pub value: Value,
}

pub(super) struct TextRelations {
    tables: Arc<SourceTables>,
    /// By schema, then name, as in [`SourceTables`].
    current: HashMap<String, HashMap<String, Arc<Relation>>>,
}

impl TextRelations {
    pub fn new(tables: Arc<SourceTables>) -> TextRelations {
        TextRelations {
            tables,
            current: HashMap::new(),
        }
    }

    fn shape(&self, schema: &str, name: &str) -> Result<&Arc<TableShape>, String> {
        self.tables.get(schema, name).ok_or_else(|| {
            format!(
                "table {schema}.{name} was not in the source catalog read when the stream \
                 started (created or renamed since?), so its key is unknown: restart the \
                 follower to read the catalog again"
            )
        })
    }

    fn remember(&mut self, schema: &str, name: &str, relation: &Arc<Relation>) {
        self.current
            .entry(schema.to_string())
            .or_default()
            .insert(name.to_string(), Arc::clone(relation));
    }

    /// After a failed message, whose changes were not emitted: describe
    /// every relation again before its next change.
    pub fn forget(&mut self) {
        self.current.clear();
    }

    /// The relation of a change that lists only some columns (a key, a
    /// truncate), described first if this is its first change.
    pub fn relation(
        &mut self,
        schema: &str,
        name: &str,
        out: &mut Vec<Change>,
    ) -> Result<Arc<Relation>, String> {
        if let Some(relation) = self.current.get(schema).and_then(|t| t.get(name)) {
            return Ok(Arc::clone(relation));
        }
        let relation = Arc::new(self.shape(schema, name)?.relation());
        self.remember(schema, name, &relation);
        out.push(Change::Relation(Arc::clone(&relation)));
        Ok(relation)
    }

    /// The relation of a change whose tuple lists every column it has
    /// (generated ones are dropped, as pgoutput never sends them): described
    /// again when that list is not the relation's.
    pub fn relation_for_columns(
        &mut self,
        schema: &str,
        name: &str,
        printed: &[Printed],
        out: &mut Vec<Change>,
    ) -> Result<Arc<Relation>, String> {
        let shape = Arc::clone(self.shape(schema, name)?);
        let current = self.current.get(schema).and_then(|t| t.get(name)).cloned();
        let relation = current
            .clone()
            .unwrap_or_else(|| Arc::new(shape.relation()));
        let sent: Vec<&Printed> = printed
            .iter()
            .filter(|p| !shape.column(&p.name).is_some_and(|c| c.generated))
            .collect();
        let same = sent.len() == relation.columns.len()
            && sent
                .iter()
                .zip(&relation.columns)
                .all(|(p, c)| p.name == c.name);
        if same {
            if current.is_none() {
                self.remember(schema, name, &relation);
                out.push(Change::Relation(Arc::clone(&relation)));
            }
            return Ok(relation);
        }
        let columns = sent
            .iter()
            .map(|p| match shape.column(&p.name) {
                Some(c) => Column {
                    name: c.name.clone(),
                    type_oid: p.type_oid.unwrap_or(c.type_oid),
                    type_modifier: c.type_modifier,
                    is_key: c.is_key,
                },
                // Added since the catalog was read: a key column only under
                // FULL, where every column is one.
                None => Column {
                    name: p.name.clone(),
                    type_oid: p.type_oid.unwrap_or(0),
                    type_modifier: -1,
                    is_key: shape.replica_identity == ReplicaIdentity::Full,
                },
            })
            .collect();
        let changed = Arc::new(Relation {
            columns,
            ..(*relation).clone()
        });
        self.remember(schema, name, &changed);
        out.push(Change::Relation(Arc::clone(&changed)));
        Ok(changed)
    }

    /// The relation of a change whose tuple may leave columns out (wal2json
    /// drops unchanged TOASTed ones from an UPDATE): described again only
    /// when the tuple has a column the relation lacks.
    pub fn relation_for_some_columns(
        &mut self,
        schema: &str,
        name: &str,
        printed: &[Printed],
        out: &mut Vec<Change>,
    ) -> Result<Arc<Relation>, String> {
        let shape = Arc::clone(self.shape(schema, name)?);
        let current = self.relation(schema, name, out)?;
        let known = printed.iter().all(|p| {
            shape.column(&p.name).is_some_and(|c| c.generated)
                || current.columns.iter().any(|c| c.name == p.name)
        });
        if known {
            Ok(current)
        } else {
            self.relation_for_columns(schema, name, printed, out)
        }
    }

    /// The printed values in the relation's column order; a column the
    /// plugin left out is `absent` (`Null` in an old key, `Unchanged` in
    /// wal2json's new tuple). Generated columns are dropped.
    pub fn tuple(
        &self,
        relation: &Relation,
        printed: Vec<Printed>,
        absent: &Value,
    ) -> Result<Tuple, String> {
        let shape = self.shape(&relation.schema, &relation.name)?;
        let mut values = vec![absent.clone(); relation.columns.len()];
        for p in printed {
            match relation.columns.iter().position(|c| c.name == p.name) {
                Some(i) => {
                    if let Some(slot) = values.get_mut(i) {
                        *slot = p.value;
                    }
                }
                None if shape.column(&p.name).is_some_and(|c| c.generated) => {}
                None => {
                    return Err(format!(
                        "column {} is not a column of {}.{}",
                        p.name, relation.schema, relation.name
                    ))
                }
            }
        }
        Ok(values)
    }
}
