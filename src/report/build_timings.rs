//! Each index and constraint of a table with how long it took, as the
//! original pgcopydb's `summary.json` lists them (`tables[].indexes[]` and
//! `tables[].constraints[]`: `oid`, `schema`, `name`, `sql`, `ms`). Read from
//! the progress ledger, so that units an earlier run of a resume did keep
//! their time.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::summary::TableReport;
use crate::catalog::Catalog;
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

/// Fill each report's index and constraint timings from `build_times`
/// (see [`crate::workdir::state::Ledger::build_times`]).
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
        // A table's constraints are attached in one ALTER TABLE: each
        // constraint carries that statement's time.
        let constraints_ms = took(Unit::Constraints(table.oid));
        report.index_builds.clear();
        report.constraint_builds.clear();
        for index in &table.indexes {
            report.index_builds.push(BuildTiming {
                oid: index.oid,
                schema: index.schema.clone(),
                name: index.name.clone(),
                sql: index.definition.clone(),
                ms: took(Unit::Index(index.oid)),
            });
            let (Some(c), Some(clause)) = (&index.constraint, constraint_clause(index)) else {
                continue;
            };
            report.constraint_builds.push(BuildTiming {
                oid: c.oid,
                schema: index.schema.clone(),
                name: c.name.clone(),
                sql: format!("ALTER TABLE ONLY {} {clause}", table.qualified()),
                ms: constraints_ms,
            });
        }
    }
}

/// The timings of a saved summary; an older summary, where `indexes` was a
/// count, reads as none.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BuildTiming>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}
