//! Each index and constraint of a table with how long it took, as the
//! original pgcopydb's `summary.json` lists them (`tables[].indexes[]` and
//! `tables[].constraints[]`: `oid`, `schema`, `name`, `sql`, `ms`). Read from
//! the progress ledger, so that units an earlier run of a resume did keep
//! their time.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use super::summary::TableReport;
use crate::catalog::{Catalog, Table};
use crate::indexes::constraint_clause;
use crate::workdir::state::Unit;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BuildTiming {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub sql: String,
    /// Milliseconds; 0 when it was not built (failed, or left to post-data).
    pub ms: u64,
}

/// What a table's index and constraint timings are made of when the summary
/// is written: the catalog's table (shared, not copied) and the times. Ten
/// thousand tables' 30,000 timings, each repeating its statement, were
/// megabytes held until the end of the run; each table's are now made while
/// its row of `summary.json` is written, and dropped after.
#[derive(Debug, Clone)]
pub struct Builds {
    table: Arc<Table>,
    /// The time of each of the table's indexes, in their order.
    index_ms: Box<[u64]>,
    /// A table's constraints are attached in one ALTER TABLE: each
    /// constraint carries that statement's time.
    constraints_ms: u64,
}

impl Builds {
    /// The original's `indexes` and `constraints` arrays of the table.
    pub fn timings(&self) -> (Vec<BuildTiming>, Vec<BuildTiming>) {
        let table = &self.table;
        let mut indexes = Vec::with_capacity(table.indexes.len());
        let mut constraints = Vec::new();
        for (index, &ms) in table.indexes.iter().zip(self.index_ms.iter()) {
            indexes.push(BuildTiming {
                oid: index.oid,
                schema: index.schema.clone(),
                name: index.name.clone(),
                sql: index.definition.clone(),
                ms,
            });
            let (Some(c), Some(clause)) = (&index.constraint, constraint_clause(index)) else {
                continue;
            };
            constraints.push(BuildTiming {
                oid: c.oid,
                schema: index.schema.clone(),
                name: c.name.clone(),
                sql: format!("ALTER TABLE ONLY {} {clause}", table.qualified()),
                ms: self.constraints_ms,
            });
        }
        (indexes, constraints)
    }
}

/// Give each report its index and constraint times from `build_times`
/// (see [`crate::workdir::state::Ledger::build_times`]), listed when the
/// summary is written (see [`Builds`]).
pub fn add_build_timings(
    reports: &mut [TableReport],
    catalog: &Catalog,
    build_times: &HashMap<String, u64>,
) {
    let took = |unit: Unit| build_times.get(unit.key().as_str()).copied().unwrap_or(0);
    // By oid: ten thousand tables make a scan per report quadratic.
    let tables: HashMap<u32, _> = catalog.tables.iter().map(|t| (t.oid, t)).collect();
    for report in reports {
        let Some(table) = tables.get(&report.oid) else {
            continue;
        };
        report.index_builds.clear();
        report.constraint_builds.clear();
        report.builds = Some(Builds {
            table: Arc::clone(table),
            index_ms: (table.indexes.iter())
                .map(|i| took(Unit::Index(i.oid)))
                .collect(),
            constraints_ms: took(Unit::Constraints(table.oid)),
        });
    }
}

/// The timings of a saved summary; an older summary, where `indexes` was a
/// count, reads as none.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BuildTiming>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Index, IndexConstraint};
    use crate::report::summary::Summary;

    /// The timings are made from the catalog when the summary is written:
    /// each index with its statement and time, each constraint with the
    /// table's ALTER TABLE and its time.
    #[test]
    fn a_written_summary_lists_each_index_and_constraint_with_its_time() {
        let mut table = Table::for_test(10, 0);
        table.indexes.push(Index {
            oid: 11,
            schema: "s".into(),
            name: "t10_pkey".into(),
            table_oid: 10,
            definition: "CREATE UNIQUE INDEX t10_pkey ON s.t10 USING btree (id)".into(),
            constraint: Some(IndexConstraint {
                oid: 12,
                name: "t10_pkey".into(),
                kind: 'p',
                deferrable: false,
                deferred: false,
                definition: "PRIMARY KEY (id)".into(),
            }),
            clustered: false,
            replica_identity: false,
            column_statistics: Vec::new(),
        });
        let catalog = Catalog {
            tables: vec![Arc::new(table)],
            ..Catalog::default()
        };
        let mut summary = Summary::default();
        summary.tables.push(TableReport {
            oid: 10,
            ..TableReport::default()
        });
        let times = HashMap::from([
            (Unit::Index(11).key(), 40),
            (Unit::Constraints(10).key(), 7),
        ]);
        add_build_timings(&mut summary.tables, &catalog, &times);
        let doc = summary.to_json().unwrap_or_default();
        let index = &doc["tables"][0]["indexes"][0];
        assert_eq!(
            index["sql"], catalog.tables[0].indexes[0].definition,
            "{doc}"
        );
        assert_eq!(index["ms"], 40, "{doc}");
        let constraint = &doc["tables"][0]["constraints"][0];
        assert_eq!(constraint["oid"], 12, "{doc}");
        assert_eq!(constraint["ms"], 7, "{doc}");
        assert!(
            (constraint["sql"].as_str().unwrap_or_default()).starts_with(
                "ALTER TABLE ONLY s.t10 ADD CONSTRAINT t10_pkey PRIMARY KEY USING INDEX"
            ),
            "{doc}"
        );
        // Read back (`list progress --summary`), they are the saved ones.
        let read: Summary = serde_json::from_value(doc.clone()).unwrap_or_default();
        assert_eq!(read.to_json().unwrap_or_default(), doc);
    }
}
