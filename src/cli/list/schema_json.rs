//! The original pgcopydb's keys in `list schema --json`, added beside ours:
//! `setup`, and per table `qname`, `reltuples`, `bytes-pretty`,
//! `exclude-data`, `restore-list-name`, `part-key` and `parts` (`number`,
//! `total`, `min`, `max`, `count`); a top-level `indexes` array (`isPrimary`,
//! `isUnique`, `columns`, `sql`, `restore-list-name`, `table`, `constraint`);
//! per sequence `last-value`, `is-called` and `restore-list-name`.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};
use tokio_postgres::Client;

use crate::catalog::listing;
use crate::catalog::part_bounds::part_json;
use crate::catalog::{Catalog, Index, Table};

/// What the original lists and the catalog the copy reads does not hold,
/// read on the source in the listing's transaction.
#[derive(Default)]
pub struct OriginalFacts {
    restore_names: HashMap<u32, String>,
    index_columns: HashMap<u32, String>,
    /// The column each table would be split on, split or not.
    part_keys: HashMap<u32, String>,
    /// The smallest key value of each split table (where its first part starts).
    pub key_mins: HashMap<u32, Option<i64>>,
}

impl OriginalFacts {
    pub async fn read(client: &Client, catalog: &Catalog) -> Result<OriginalFacts> {
        let tables: Vec<u32> = catalog.tables.iter().map(|t| t.oid).collect();
        let indexes: Vec<u32> = catalog
            .tables
            .iter()
            .flat_map(|t| t.indexes.iter().map(|i| i.oid))
            .collect();
        let mut relations = tables.clone();
        relations.extend(&indexes);
        relations.extend(catalog.sequences.iter().map(|s| s.oid));
        let part_keys = listing::split_key_columns(client, &tables).await?;
        Ok(OriginalFacts {
            restore_names: listing::restore_list_names(client, &relations).await?,
            index_columns: listing::index_columns(client, &indexes).await?,
            part_keys: part_keys.into_iter().map(|(o, (c, _))| (o, c)).collect(),
            key_mins: HashMap::new(),
        })
    }

    fn restore_name(&self, oid: u32) -> &str {
        self.restore_names.get(&oid).map_or("", String::as_str)
    }
}

/// Add the original's keys to `doc`, whose `tables` and `sequences` arrays
/// are `catalog`'s, in order.
pub fn add_original_keys(doc: &mut Value, catalog: &Catalog, facts: &OriginalFacts, setup: Value) {
    doc["setup"] = setup;
    if let Some(tables) = doc["tables"].as_array_mut() {
        for (json, t) in tables.iter_mut().zip(&catalog.tables) {
            json["qname"] = json!(t.qualified());
            json["reltuples"] = json!(t.estimated_rows as i64);
            json["bytes-pretty"] = json!(indicatif::HumanBytes(t.bytes.max(0) as u64).to_string());
            json["exclude-data"] = json!(!t.copy_data);
            json["restore-list-name"] = json!(facts.restore_name(t.oid));
            json["part-key"] = json!(part_key(t, facts));
            let key_min = facts.key_mins.get(&t.oid).copied().flatten();
            json["parts"] = t.parts.iter().map(|p| part_json(p, key_min)).collect();
        }
    }
    if let Some(sequences) = doc["sequences"].as_array_mut() {
        for (json, s) in sequences.iter_mut().zip(&catalog.sequences) {
            json["last-value"] = json!(s.last_value);
            json["is-called"] = json!(s.is_called);
            json["restore-list-name"] = json!(facts.restore_name(s.oid));
        }
    }
    let indexes: Vec<Value> = catalog
        .tables
        .iter()
        .flat_map(|t| t.indexes.iter().map(move |i| index(t, i, facts)))
        .collect();
    doc["indexes"] = Value::Array(indexes);
}

/// The column a table's parts are cut on (`ctid` for ranges of pages), or
/// the one it would be split on; empty when none.
fn part_key(t: &Table, facts: &OriginalFacts) -> String {
    use crate::catalog::parts::PartRange;
    t.parts
        .iter()
        .find_map(|p| match &p.range {
            PartRange::Key { column, .. } | PartRange::KeyIsNull { column } => Some(column.clone()),
            PartRange::Pages { .. } => Some("ctid".to_string()),
            PartRange::Whole => None,
        })
        .or_else(|| facts.part_keys.get(&t.oid).cloned())
        .unwrap_or_default()
}

fn index(t: &Table, i: &Index, facts: &OriginalFacts) -> Value {
    // pg_restore lists the constraint, not the index that backs it: the
    // original leaves such an index's restore-list-name empty.
    let restore_name = match &i.constraint {
        Some(_) => "",
        None => facts.restore_name(i.oid),
    };
    let constraint = i.constraint.as_ref().map(
        |c| json!({ "oid": c.oid, "name": c.name, "sql": c.definition, "restore-list-name": "" }),
    );
    json!({
        "oid": i.oid,
        "schema": i.schema,
        "name": i.name,
        "qname": crate::sql::quote_qualified(&i.schema, &i.name),
        "isPrimary": i.constraint.as_ref().is_some_and(|c| c.kind == 'p'),
        "isUnique": i.definition.starts_with("CREATE UNIQUE"),
        "columns": facts.index_columns.get(&i.oid).map_or("", String::as_str),
        "sql": i.definition,
        "restore-list-name": restore_name,
        "table": { "oid": t.oid, "schema": t.schema, "name": t.name },
        "constraint": constraint,
    })
}
