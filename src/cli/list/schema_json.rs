//! The original pgcopydb's keys in `list schema --json`, added beside ours:
//! `setup`, and per table `qname`, `reltuples`, `bytes-pretty`,
//! `exclude-data`, `part-key`; a top-level `indexes` array (`isPrimary`,
//! `isUnique`, `sql`, `table`, `constraint`); per sequence `last-value` and
//! `is-called`.

use serde_json::{json, Value};

use crate::catalog::parts::PartRange;
use crate::catalog::{Catalog, Index, Table};

/// Add the original's keys to `doc`, whose `tables` and `sequences` arrays
/// are `catalog`'s, in order.
pub fn add_original_keys(doc: &mut Value, catalog: &Catalog, setup: Value) {
    doc["setup"] = setup;
    if let Some(tables) = doc["tables"].as_array_mut() {
        for (json, t) in tables.iter_mut().zip(&catalog.tables) {
            json["qname"] = json!(t.qualified());
            json["reltuples"] = json!(t.estimated_rows as i64);
            json["bytes-pretty"] = json!(indicatif::HumanBytes(t.bytes.max(0) as u64).to_string());
            json["exclude-data"] = json!(!t.copy_data);
            json["part-key"] = json!(part_key(t));
        }
    }
    if let Some(sequences) = doc["sequences"].as_array_mut() {
        for (json, s) in sequences.iter_mut().zip(&catalog.sequences) {
            json["last-value"] = json!(s.last_value);
            json["is-called"] = json!(s.is_called);
        }
    }
    let indexes: Vec<Value> = catalog
        .tables
        .iter()
        .flat_map(|t| t.indexes.iter().map(move |i| index(t, i)))
        .collect();
    doc["indexes"] = Value::Array(indexes);
}

/// The column a split table's parts are cut on, empty when none.
fn part_key(t: &Table) -> String {
    t.parts
        .iter()
        .find_map(|p| match &p.range {
            PartRange::Key { column, .. } | PartRange::KeyIsNull { column } => Some(column.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn index(t: &Table, i: &Index) -> Value {
    let constraint = i
        .constraint
        .as_ref()
        .map(|c| json!({ "oid": c.oid, "name": c.name, "sql": c.definition }));
    json!({
        "oid": i.oid,
        "schema": i.schema,
        "name": i.name,
        "qname": crate::sql::quote_qualified(&i.schema, &i.name),
        "isPrimary": i.constraint.as_ref().is_some_and(|c| c.kind == 'p'),
        "isUnique": i.definition.starts_with("CREATE UNIQUE"),
        "sql": i.definition,
        "table": { "oid": t.oid, "schema": t.schema, "name": t.name },
        "constraint": constraint,
    })
}
