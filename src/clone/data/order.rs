//! The order tables are copied in: largest first, except that a table
//! referenced by a foreign key ranks as high as the largest table that
//! references it. A key is validated (a scan of the referencing table) once
//! both of its tables are complete; with plain largest-first, the small
//! referenced tables come last, and the validations of the big tables that
//! point at them pile up at the very end, where nothing overlaps them.

use std::collections::HashMap;

use crate::catalog::Catalog;

/// Per copied table (leaf partitions included), the size of the largest
/// table whose foreign key references it. A partitioned table counts as the
/// sum of its partitions, on either side of a key.
pub fn referenced_weights(catalog: &Catalog) -> HashMap<u32, i64> {
    let sizes: HashMap<u32, i64> = catalog.tables.iter().map(|t| (t.oid, t.bytes)).collect();
    let children: HashMap<u32, &[u32]> = catalog
        .partitioned
        .iter()
        .map(|p| (p.oid, p.partitions.as_slice()))
        .collect();
    let leaves = |oid: u32| {
        let mut out = Vec::new();
        let mut stack = vec![oid];
        while let Some(o) = stack.pop() {
            match children.get(&o) {
                Some(kids) => stack.extend(kids.iter().copied()),
                None => out.push(o),
            }
        }
        out
    };
    let mut weights: HashMap<u32, i64> = HashMap::new();
    for fk in &catalog.foreign_keys {
        if fk.table_oid == fk.referenced_oid {
            continue;
        }
        let referencing: i64 = leaves(fk.table_oid)
            .iter()
            .filter_map(|o| sizes.get(o))
            .sum();
        for leaf in leaves(fk.referenced_oid) {
            if sizes.contains_key(&leaf) {
                let w = weights.entry(leaf).or_default();
                *w = (*w).max(referencing);
            }
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{PartitionedTable, Table};
    use crate::foreign_keys::ForeignKey;

    fn table(oid: u32, bytes: i64) -> Table {
        Table::for_test(oid, bytes)
    }

    fn fk(from: u32, to: u32) -> ForeignKey {
        ForeignKey::for_test(from, to)
    }

    #[test]
    fn referenced_tables_rank_with_their_largest_referrer() {
        let catalog = Catalog {
            tables: vec![
                table(1, 1000), // big, references 2 and the partitioned 10
                table(2, 5),    // tiny dimension
                table(3, 50),   // medium, references 2 and itself
                table(4, 20),   // leaf of 10
                table(5, 30),   // leaf of 11, under 10
                table(6, 7),    // referenced by the partitioned 10
            ]
            .into_iter()
            .map(Into::into)
            .collect(),
            partitioned: vec![
                PartitionedTable {
                    oid: 10,
                    schema: "s".into(),
                    name: "p10".into(),
                    partitions: vec![4, 11],
                    indexes: Vec::new(),
                },
                PartitionedTable {
                    oid: 11,
                    schema: "s".into(),
                    name: "p11".into(),
                    partitions: vec![5],
                    indexes: Vec::new(),
                },
            ],
            foreign_keys: vec![fk(1, 2), fk(3, 2), fk(3, 3), fk(1, 10), fk(10, 6)],
            ..Catalog::default()
        };
        let w = referenced_weights(&catalog);
        assert_eq!(w.get(&2), Some(&1000));
        assert_eq!(w.get(&4), Some(&1000));
        assert_eq!(w.get(&5), Some(&1000));
        // A partitioned referrer weighs the sum of its partitions.
        assert_eq!(w.get(&6), Some(&50));
        // Self-references and unreferenced tables: no weight.
        assert_eq!(w.get(&3), None);
        assert_eq!(w.get(&1), None);
    }
}
