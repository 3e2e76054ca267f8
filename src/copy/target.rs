//! What each table is on the target. The source catalog lists plain tables
//! (and leaf partitions), but users re-partition while they migrate: the
//! target may hold a partitioned table (or a foreign table) under the same
//! name. COPY routes rows into a partitioned table, but the way a plain table
//! is prepared for it does not apply: `TRUNCATE ONLY` and `DELETE FROM ONLY`
//! on a partitioned table fail or touch no row, FREEZE is refused, and a
//! column storage switch on the parent alone changes nothing where the rows
//! go.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::catalog::Table;

/// The kind of relation a table is copied into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetRelation {
    /// An ordinary table (or one not created yet: the COPY then says so).
    #[default]
    Plain,
    /// `PARTITION BY`: rows are routed to its partitions.
    Partitioned,
    /// A foreign table: rows go through its foreign data wrapper.
    Foreign,
}

impl TargetRelation {
    /// `COPY ... FREEZE` (and the storage switch, which only pays with it)
    /// applies to a plain table only.
    pub fn freezes(self) -> bool {
        self == TargetRelation::Plain
    }

    /// `ONLY ` where it keeps the statement to this table, nothing for a
    /// partitioned table, whose rows are all in its partitions.
    fn only(self) -> &'static str {
        match self {
            TargetRelation::Partitioned => "",
            TargetRelation::Plain | TargetRelation::Foreign => "ONLY ",
        }
    }

    /// Empty the table before its copy.
    pub fn truncate_sql(self, table: &Table) -> String {
        format!("TRUNCATE {}{}", self.only(), table.qualified())
    }

    /// Delete the rows of one part (`predicate`) before copying it again.
    pub fn delete_sql(self, table: &Table, predicate: &str) -> String {
        format!(
            "DELETE FROM {}{} WHERE {predicate}",
            self.only(),
            table.qualified()
        )
    }
}

/// The target relation of every table of `tables` that is not a plain table
/// there, by source oid: one query for the whole run.
pub async fn target_relations(
    target: &Client,
    tables: &[std::sync::Arc<Table>],
) -> Result<HashMap<u32, TargetRelation>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    // One round trip with an unnamed statement: through a pooler in
    // transaction mode, a statement prepared by name may be gone when it
    // is executed (the server connection changed in between).
    let rows = target
        .query_typed(
            "SELECT s.oid, c.relkind::text \
               FROM unnest($1::oid[], $2::text[], $3::text[]) AS s(oid, nspname, relname) \
               JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname \
               JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.relname \
              WHERE c.relkind IN ('p', 'f')",
            &[
                (&oids, Type::OID_ARRAY),
                (&schemas, Type::TEXT_ARRAY),
                (&names, Type::TEXT_ARRAY),
            ],
        )
        .await
        .context("reading the kinds of the target tables")?;
    let mut kinds = HashMap::new();
    for row in rows {
        let oid: u32 = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        let relation = match kind.as_str() {
            "p" => TargetRelation::Partitioned,
            _ => TargetRelation::Foreign,
        };
        kinds.insert(oid, relation);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partitioned_target_is_emptied_through_its_partitions() {
        let table = Table::for_test(1, 0);
        let p = TargetRelation::Partitioned;
        assert_eq!(p.truncate_sql(&table), "TRUNCATE s.t1");
        // DELETE FROM ONLY a partitioned table deletes nothing.
        assert_eq!(
            p.delete_sql(&table, "id < 5"),
            "DELETE FROM s.t1 WHERE id < 5"
        );
        assert!(!p.freezes());
        let plain = TargetRelation::Plain;
        assert_eq!(plain.truncate_sql(&table), "TRUNCATE ONLY s.t1");
        assert_eq!(
            plain.delete_sql(&table, "true"),
            "DELETE FROM ONLY s.t1 WHERE true"
        );
        assert!(plain.freezes());
        assert!(!TargetRelation::Foreign.freezes());
    }
}
