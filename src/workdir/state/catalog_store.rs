//! The catalog store: the setup that shaped the run's plan (options,
//! endpoints, the selection) and the source catalog as read under the
//! snapshot, so that a resume works from the same plan.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::{from_json, to_json, Db};
use crate::catalog::listing::ListingNames;
use crate::catalog::{Catalog, Index, Sequence, Table};

/// The setup entries and the saved catalog of a run.
#[derive(Clone)]
pub struct CatalogStore {
    db: Db,
}

impl CatalogStore {
    pub(super) fn new(db: Db) -> CatalogStore {
        CatalogStore { db }
    }

    /// Whether the run wrote (or was about to write) to the target: until
    /// then, starting it over loses nothing.
    pub fn target_written(&self) -> Result<bool> {
        self.db.with(|c| {
            c.query_row(
                "SELECT count(*) > 0 FROM setup WHERE key = 'target_written'",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Record that the run is about to write to the target.
    pub fn mark_target_written(&self) -> Result<()> {
        self.put_setup(&[("target_written", "yes".to_string())])
    }

    pub fn setup(&self) -> Result<HashMap<String, String>> {
        self.db.with(|c| {
            let mut stmt = c.prepare("SELECT key, value FROM setup")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn put_setup(&self, entries: &[(&str, String)]) -> Result<()> {
        self.db.with(|c| {
            let tx = c.transaction()?;
            for (k, v) in entries {
                tx.execute(
                    "INSERT INTO setup (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                )?;
            }
            tx.commit()
        })
    }

    /// Store the catalog in one transaction (fast for tens of thousands of rows).
    pub fn save_catalog(&self, catalog: &Catalog) -> Result<()> {
        self.db.with(|c| {
            let tx = c.transaction()?;
            for t in [
                "s_table",
                "s_index",
                "s_sequence",
                "s_large_object",
                "s_foreign_key",
                "s_partitioned",
            ] {
                tx.execute(&format!("DELETE FROM {t}"), [])?;
            }
            {
                let mut table = tx.prepare(
                    "INSERT INTO s_table (oid, schema, name, bytes, position, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut index = tx.prepare(
                    "INSERT INTO s_index (oid, table_oid, schema, name, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (pos, t) in catalog.tables.iter().enumerate() {
                    let mut bare = Table::clone(t);
                    bare.indexes.clear();
                    table.execute(params![t.oid, t.schema, t.name, t.bytes, pos as i64, to_json(&bare)?])?;
                    for i in &t.indexes {
                        index.execute(params![i.oid, i.table_oid, i.schema, i.name, to_json(i)?])?;
                    }
                }
                let mut seq = tx.prepare(
                    "INSERT INTO s_sequence (oid, schema, name, last_value, is_called) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for s in &catalog.sequences {
                    seq.execute(params![s.oid, s.schema, s.name, s.last_value, s.is_called])?;
                }
                let mut lo = tx.prepare("INSERT INTO s_large_object (oid) VALUES (?1)")?;
                for oid in &catalog.large_objects {
                    lo.execute(params![oid])?;
                }
                let mut fk = tx.prepare("INSERT INTO s_foreign_key (oid, json) VALUES (?1, ?2)")?;
                for k in &catalog.foreign_keys {
                    fk.execute(params![k.oid, to_json(k)?])?;
                }
                let mut part = tx.prepare("INSERT INTO s_partitioned (oid, json) VALUES (?1, ?2)")?;
                for p in &catalog.partitioned {
                    part.execute(params![p.oid, to_json(p)?])?;
                }
            }
            tx.execute(
                "INSERT INTO setup (key, value) VALUES ('encoding', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![catalog.encoding],
            )?;
            match &catalog.toast_compression {
                Some(method) => tx.execute(
                    "INSERT INTO setup (key, value) VALUES ('toast_compression', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![method],
                )?,
                None => tx.execute("DELETE FROM setup WHERE key = 'toast_compression'", [])?,
            };
            tx.execute(
                "INSERT INTO setup (key, value) VALUES ('listing_names', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![to_json(&catalog.listing_names)?],
            )?;
            // With the catalog, so the two always describe the same selection.
            tx.execute(
                "INSERT INTO setup (key, value) VALUES ('selection', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![to_json(&catalog.selection)?],
            )?;
            tx.commit()
        })
    }

    /// The catalog saved by an earlier run, if any.
    pub fn load_catalog(&self) -> Result<Option<Catalog>> {
        self.db.with(|c| {
            let count: i64 = c.query_row("SELECT count(*) FROM setup WHERE key = 'encoding'", [], |r| r.get(0))?;
            if count == 0 {
                return Ok(None);
            }
            let mut indexes: HashMap<u32, Vec<Index>> = HashMap::new();
            let mut stmt = c.prepare("SELECT table_oid, json FROM s_index ORDER BY table_oid, name")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))? {
                let (oid, json) = row?;
                indexes.entry(oid).or_default().push(from_json(&json)?);
            }
            let mut stmt = c.prepare("SELECT json FROM s_table ORDER BY position")?;
            let mut tables = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let mut t: Table = from_json(&row?)?;
                t.indexes = indexes.remove(&t.oid).unwrap_or_default();
                tables.push(t.shared());
            }
            let mut stmt = c.prepare("SELECT oid, schema, name, last_value, is_called FROM s_sequence ORDER BY schema, name")?;
            let sequences = stmt
                .query_map([], |r| {
                    Ok(Sequence {
                        oid: r.get(0)?,
                        schema: r.get(1)?,
                        name: r.get(2)?,
                        last_value: r.get(3)?,
                        is_called: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT oid FROM s_large_object ORDER BY oid")?;
            let large_objects = stmt
                .query_map([], |r| r.get::<_, u32>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT json FROM s_foreign_key ORDER BY oid")?;
            let mut foreign_keys = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                foreign_keys.push(from_json(&row?)?);
            }
            let mut stmt = c.prepare("SELECT json FROM s_partitioned ORDER BY oid")?;
            let mut partitioned = Vec::new();
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                partitioned.push(from_json(&row?)?);
            }
            let encoding = c.query_row("SELECT value FROM setup WHERE key = 'encoding'", [], |r| r.get(0))?;
            let selection: Option<String> = c
                .query_row("SELECT value FROM setup WHERE key = 'selection'", [], |r| r.get(0))
                .optional()?;
            let selection = match selection {
                Some(json) => from_json(&json)?,
                None => Default::default(),
            };
            let toast_compression: Option<String> = c
                .query_row("SELECT value FROM setup WHERE key = 'toast_compression'", [], |r| r.get(0))
                .optional()?;
            let listing_names = listing_names_of(c)?;
            Ok(Some(Catalog {
                listing_names,
                tables,
                sequences,
                large_objects,
                encoding,
                foreign_keys,
                partitioned,
                selection,
                toast_compression,
            }))
        })
    }

    /// The restore list names and index columns saved with the catalog
    /// (none in the state of an older run).
    pub fn listing_names(&self) -> Result<ListingNames> {
        self.db.with(|c| listing_names_of(c))
    }

    /// How many tables the plan holds and their expected size.
    pub fn planned_tables(&self) -> Result<(usize, i64)> {
        self.db.with(|c| {
            c.query_row(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM s_table",
                [],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)),
            )
        })
    }
}

/// The `listing_names` setup entry; empty when the run saved none.
fn listing_names_of(c: &rusqlite::Connection) -> rusqlite::Result<ListingNames> {
    let json: Option<String> = c
        .query_row(
            "SELECT value FROM setup WHERE key = 'listing_names'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match json {
        Some(json) => from_json(&json),
        None => Ok(ListingNames::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, IndexConstraint};
    use crate::workdir::state::{State, Unit};

    fn big_catalog(tables: u32, indexes_per_table: u32) -> Catalog {
        let mut catalog = Catalog {
            encoding: "UTF8".into(),
            ..Catalog::default()
        };
        for t in 0..tables {
            let oid = 100_000 + t;
            catalog.tables.push(
                Table {
                    oid,
                    schema: "public".into(),
                    name: format!("t{t}"),
                    persistence: 'p',
                    bytes: (tables - t) as i64 * 8192,
                    estimated_rows: 10.0,
                    columns: vec![Column {
                        name: "id".into(),
                        type_name: "integer".into(),
                        binary_safe: true,
                        binary_not_portable: None,
                        extended: false,
                    }],
                    only_generated_columns: false,
                    parts: Vec::new(),
                    copy_data: true,
                    indexes: (0..indexes_per_table)
                        .map(|i| Index {
                            oid: 1_000_000 + t * 10 + i,
                            schema: "public".into(),
                            name: format!("t{t}_i{i}"),
                            table_oid: oid,
                            definition: format!(
                                "CREATE INDEX t{t}_i{i} ON public.t{t} USING btree (id)"
                            ),
                            constraint: (i == 0).then(|| IndexConstraint {
                                oid: 2_000_000 + t,
                                name: format!("t{t}_pkey"),
                                kind: 'p',
                                deferrable: false,
                                deferred: false,
                                definition: "PRIMARY KEY (id)".into(),
                            }),
                            clustered: false,
                            replica_identity: false,
                            column_statistics: Vec::new(),
                        })
                        .collect(),
                }
                .into(),
            );
        }
        catalog
    }

    #[test]
    fn catalog_round_trips_and_scales_to_ten_thousand_tables() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("s.db")).unwrap();
        let catalog = big_catalog(10_000, 5);
        state.catalog().save_catalog(&catalog).unwrap();
        let loaded = state.catalog().load_catalog().unwrap().unwrap();
        assert_eq!(loaded.tables.len(), 10_000);
        assert_eq!(loaded.index_count(), 50_000);
        assert_eq!(loaded.tables[0].name, "t0");
        assert_eq!(loaded.tables[9_999].indexes.len(), 5);
        assert!(loaded.tables[1].indexes[0].constraint.is_some());
        // Progress for every unit, then the done set in one query.
        for t in &catalog.tables {
            let unit = Unit::Table(t.oid);
            state.ledger().start(&unit, &t.name, t.bytes).unwrap();
            state.ledger().done(&unit, 10, 1).unwrap();
        }
        let done = state.ledger().done_units().unwrap();
        assert_eq!(done.len(), 10_000);
        assert!(state.ledger().is_done(&Unit::Table(100_000)).unwrap());
        assert!(!state.ledger().is_done(&Unit::Index(1)).unwrap());
    }
}
