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

use crate::catalog::listing::{self, ListingNames};
use crate::catalog::part_bounds::part_json;
use crate::catalog::{Catalog, Index, Table};

/// What the original lists and the catalog the copy reads does not hold,
/// read on the source in the listing's transaction.
#[derive(Default)]
pub struct OriginalFacts {
    /// The column each table would be split on, split or not.
    part_keys: HashMap<u32, String>,
    /// The smallest key value of each split table (where its first part starts).
    pub key_mins: HashMap<u32, Option<i64>>,
}

impl OriginalFacts {
    pub async fn read(client: &Client, catalog: &Catalog) -> Result<OriginalFacts> {
        let tables: Vec<u32> = catalog.tables.iter().map(|t| t.oid).collect();
        let part_keys = listing::split_key_columns(client, &tables).await?;
        Ok(OriginalFacts {
            part_keys: part_keys.into_iter().map(|(o, (c, _))| (o, c)).collect(),
            key_mins: HashMap::new(),
        })
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
            json["bytes-pretty"] = json!(super::render::pg_size_pretty(t.bytes));
            json["exclude-data"] = json!(!t.copy_data);
            json["restore-list-name"] = json!(catalog.listing_names.restore_name(t.oid));
            json["part-key"] = json!(part_key(t, facts));
            let key_min = facts.key_mins.get(&t.oid).copied().flatten();
            json["parts"] = t.parts.iter().map(|p| part_json(p, key_min)).collect();
        }
    }
    if let Some(sequences) = doc["sequences"].as_array_mut() {
        for (json, s) in sequences.iter_mut().zip(&catalog.sequences) {
            json["last-value"] = json!(s.last_value);
            json["is-called"] = json!(s.is_called);
            json["restore-list-name"] = json!(catalog.listing_names.restore_name(s.oid));
        }
    }
    let indexes: Vec<Value> = catalog
        .tables
        .iter()
        .flat_map(|t| {
            t.indexes
                .iter()
                .map(|i| index(t, i, &catalog.listing_names))
        })
        .collect();
    doc["indexes"] = Value::Array(indexes);
}

/// The column a table's parts are cut on (`ctid` for ranges of pages), or
/// the one it would be split on; empty when none.
fn part_key(t: &Table, facts: &OriginalFacts) -> String {
    split_column(t)
        .or_else(|| facts.part_keys.get(&t.oid).cloned())
        .unwrap_or_default()
}

/// The column a split table's parts are cut on, `ctid` for ranges of pages.
pub fn split_column(t: &Table) -> Option<String> {
    use crate::catalog::parts::PartRange;
    t.parts.iter().find_map(|p| match &p.range {
        PartRange::Key { column, .. } | PartRange::KeyIsNull { column } => Some(column.clone()),
        PartRange::Pages { .. } => Some("ctid".to_string()),
        PartRange::Whole => None,
    })
}

/// An index as the original lists it (`list schema`, `list progress`).
pub fn index(t: &Table, i: &Index, names: &ListingNames) -> Value {
    // pg_restore lists the constraint, not the index that backs it: the
    // original leaves such an index's restore-list-name empty.
    let restore_name = match &i.constraint {
        Some(_) => "",
        None => names.restore_name(i.oid),
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
        "columns": names.columns(i.oid),
        "sql": i.definition,
        "restore-list-name": restore_name,
        "table": { "oid": t.oid, "schema": t.schema, "name": t.name },
        "constraint": constraint,
    })
}
