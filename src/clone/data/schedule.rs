//! The data phase's dependency tracker: what may start once a part, a
//! table or a partitioned table is in. It is built from the catalog, fed
//! events by the workers, and answers with the work that became ready; it
//! does no I/O, so its rules are tested here without servers.
//!
//! The rules:
//! - a split table's copy is in once its last part still to copy is in;
//! - a table is *complete* once its data, indexes, constraints and
//!   statistics are in (the caller says when);
//! - a partitioned table's indexes are built once each of its partitions is
//!   complete, which then makes it complete in turn;
//! - a foreign key is added once both of its tables are complete, once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::catalog::{Catalog, PartitionedTable, Table};
use crate::copy::CopyStats;
use crate::foreign_keys::ForeignKey;

mod rules;

pub(super) use rules::{group_tables, small_table_groups, ConstraintPool, Rules};

pub(super) struct Schedule {
    /// Split tables still being copied: parts left, and the sum of their stats.
    parts_left: HashMap<u32, (usize, CopyStats)>,
    /// Partitioned tables whose indexes this phase builds, by oid.
    parents: HashMap<u32, Arc<PartitionedTable>>,
    /// The partitioned table (among `parents`) each partition belongs to.
    parent_of: HashMap<u32, u32>,
    /// Partitions of each of `parents` not complete yet.
    partitions_left: HashMap<u32, usize>,
    foreign_keys: Vec<ForeignKey>,
    /// Positions in `foreign_keys` of the keys on or to each table.
    fk_by_table: HashMap<u32, Vec<usize>>,
    fk_started: HashSet<u32>,
    /// Tables whose data, indexes, constraints and statistics are all in.
    complete: HashSet<u32>,
}

/// What a table's completion lets start.
#[derive(Default)]
pub(super) struct Ready {
    /// A partitioned table whose partitions are now all complete: its
    /// indexes can be built.
    pub parent: Option<Arc<PartitionedTable>>,
    /// Foreign keys whose two tables are now complete.
    pub foreign_keys: Vec<ForeignKey>,
}

impl Schedule {
    /// `build_parents`: this phase builds the indexes of partitioned tables;
    /// `add_foreign_keys`: it adds the foreign keys (else post-data does).
    pub fn new(catalog: &Catalog, build_parents: bool, add_foreign_keys: bool) -> Schedule {
        let parents = if build_parents {
            parents_to_build(catalog)
        } else {
            HashMap::new()
        };
        let foreign_keys = if add_foreign_keys {
            catalog.foreign_keys.clone()
        } else {
            Vec::new()
        };
        Schedule {
            parts_left: HashMap::new(),
            parent_of: parents
                .values()
                .flat_map(|p| p.partitions.iter().map(|&c| (c, p.oid)))
                .collect(),
            partitions_left: parents
                .values()
                .map(|p| (p.oid, p.partitions.len()))
                .collect(),
            parents,
            fk_by_table: foreign_keys_by_table(&foreign_keys),
            foreign_keys,
            fk_started: HashSet::new(),
            complete: HashSet::new(),
        }
    }

    /// Partitioned tables without partitions: complete from the start, their
    /// indexes can be built at once.
    pub fn parents_without_partitions(&self) -> Vec<Arc<PartitionedTable>> {
        self.parents
            .values()
            .filter(|p| p.partitions.is_empty())
            .cloned()
            .collect()
    }

    /// `parts` parts of split table `table` are to be copied (fewer than it
    /// has on resume, when some are in already).
    pub fn split_started(&mut self, table: u32, parts: usize) {
        self.parts_left.insert(table, (parts, CopyStats::default()));
    }

    /// A part of `table` is copied; returns the table's total once its last
    /// part is in (at once for a table copied whole).
    pub fn part_done(&mut self, table: &Table, stats: &CopyStats) -> Option<CopyStats> {
        if table.parts.is_empty() {
            return Some(stats.clone());
        }
        let entry = self.parts_left.get_mut(&table.oid)?;
        entry.0 = entry.0.checked_sub(1)?;
        entry.1.rows += stats.rows;
        entry.1.bytes += stats.bytes;
        entry.1.duration += stats.duration;
        (entry.0 == 0).then(|| entry.1.clone())
    }

    /// A table (plain, or partitioned with its indexes built) is complete.
    pub fn table_complete(&mut self, oid: u32) -> Ready {
        let mut ready = Ready::default();
        if self.complete.insert(oid) {
            if let Some(&parent) = self.parent_of.get(&oid) {
                let last = self.partitions_left.get_mut(&parent).is_some_and(|n| {
                    *n = n.saturating_sub(1);
                    *n == 0
                });
                if last {
                    ready.parent = self.parents.get(&parent).cloned();
                }
            }
        }
        let complete = &self.complete;
        let started = &mut self.fk_started;
        ready.foreign_keys = self
            .fk_by_table
            .get(&oid)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.foreign_keys.get(i))
            .filter(|k| complete.contains(&k.table_oid) && complete.contains(&k.referenced_oid))
            .filter(|k| started.insert(k.oid))
            .cloned()
            .collect();
        ready
    }
}

fn foreign_keys_by_table(keys: &[ForeignKey]) -> HashMap<u32, Vec<usize>> {
    let mut map: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        map.entry(k.table_oid).or_default().push(i);
        if k.referenced_oid != k.table_oid {
            map.entry(k.referenced_oid).or_default().push(i);
        }
    }
    map
}

/// The partitioned tables whose every partition is copied here, or is
/// itself such a partitioned table: their indexes can be built as soon as
/// the partitions are complete. The others (with a foreign-table partition,
/// or a partition left out by the filters) are left to post-data, and so
/// are the partitioned tables above them.
fn parents_to_build(catalog: &Catalog) -> HashMap<u32, Arc<PartitionedTable>> {
    let copied: HashSet<u32> = catalog.tables.iter().map(|t| t.oid).collect();
    let by_oid: HashMap<u32, &PartitionedTable> =
        catalog.partitioned.iter().map(|p| (p.oid, p)).collect();
    fn buildable(
        oid: u32,
        copied: &HashSet<u32>,
        by_oid: &HashMap<u32, &PartitionedTable>,
        memo: &mut HashMap<u32, bool>,
    ) -> bool {
        if copied.contains(&oid) {
            return true;
        }
        if let Some(&known) = memo.get(&oid) {
            return known;
        }
        // Guards against a cycle, which the catalog cannot hold anyway.
        memo.insert(oid, false);
        let ok = by_oid.get(&oid).is_some_and(|p| {
            p.partitions
                .iter()
                .all(|&c| buildable(c, copied, by_oid, memo))
        });
        memo.insert(oid, ok);
        ok
    }
    let mut memo = HashMap::new();
    catalog
        .partitioned
        .iter()
        .filter(|p| buildable(p.oid, &copied, &by_oid, &mut memo))
        .map(|p| (p.oid, Arc::new(p.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::parts::{Part, PartRange};

    fn table(oid: u32) -> Table {
        Table::for_test(oid, 0)
    }

    fn split(oid: u32, parts: u32) -> Table {
        Table {
            parts: (1..=parts)
                .map(|number| Part {
                    number,
                    count: parts,
                    range: PartRange::Pages { from: 0, to: None },
                })
                .collect(),
            ..table(oid)
        }
    }

    fn parent(oid: u32, partitions: &[u32]) -> PartitionedTable {
        PartitionedTable::for_test(oid, partitions)
    }

    fn fk(from: u32, to: u32) -> ForeignKey {
        ForeignKey::for_test(from, to)
    }

    fn stats(rows: u64) -> CopyStats {
        CopyStats {
            rows,
            bytes: rows * 10,
            duration: Duration::from_secs(rows),
        }
    }

    fn schedule(catalog: &Catalog) -> Schedule {
        Schedule::new(catalog, true, true)
    }

    /// The oids of the keys made ready, sorted.
    fn keys(ready: &Ready) -> Vec<u32> {
        let mut oids: Vec<u32> = ready.foreign_keys.iter().map(|k| k.oid).collect();
        oids.sort();
        oids
    }

    #[test]
    fn a_whole_table_is_in_with_its_copy() {
        let mut s = schedule(&Catalog::default());
        let total = s.part_done(&table(1), &stats(3)).map(|t| t.rows);
        assert_eq!(total, Some(3));
    }

    #[test]
    fn a_split_table_is_in_with_its_last_part_and_sums_them() {
        let t = split(1, 3);
        let mut s = schedule(&Catalog::default());
        s.split_started(1, 3);
        assert!(s.part_done(&t, &stats(1)).is_none());
        assert!(s.part_done(&t, &stats(2)).is_none());
        let total = s.part_done(&t, &stats(4)).expect("last part");
        assert_eq!((total.rows, total.bytes), (7, 70));
        assert_eq!(total.duration, Duration::from_secs(7));
    }

    #[test]
    fn a_resumed_split_table_waits_only_for_the_parts_still_to_copy() {
        let t = split(1, 4);
        let mut s = schedule(&Catalog::default());
        // Two of its four parts were in before the interruption.
        s.split_started(1, 2);
        assert!(s.part_done(&t, &stats(1)).is_none());
        assert_eq!(s.part_done(&t, &stats(1)).map(|t| t.rows), Some(2));
        // A part reported past the last one makes nothing ready again.
        assert!(s.part_done(&t, &stats(1)).is_none());
    }

    #[test]
    fn a_part_of_a_table_not_started_as_split_makes_nothing_ready() {
        let mut s = schedule(&Catalog::default());
        assert!(s.part_done(&split(1, 2), &stats(1)).is_none());
    }

    #[test]
    fn a_foreign_key_starts_once_both_tables_are_complete_in_either_order() {
        let catalog = Catalog {
            tables: vec![table(1), table(2)]
                .into_iter()
                .map(Into::into)
                .collect(),
            foreign_keys: vec![fk(1, 2)],
            ..Catalog::default()
        };
        for order in [[1, 2], [2, 1]] {
            let mut s = schedule(&catalog);
            assert!(keys(&s.table_complete(order[0])).is_empty());
            assert_eq!(keys(&s.table_complete(order[1])), vec![1002]);
            // Reported again (as a resume may): the key is not started twice.
            assert!(keys(&s.table_complete(order[1])).is_empty());
        }
    }

    #[test]
    fn a_self_reference_starts_with_its_table_and_keys_start_once() {
        let catalog = Catalog {
            tables: vec![table(1), table(2), table(3)]
                .into_iter()
                .map(Into::into)
                .collect(),
            foreign_keys: vec![fk(1, 1), fk(2, 1), fk(3, 1)],
            ..Catalog::default()
        };
        let mut s = schedule(&catalog);
        assert!(keys(&s.table_complete(2)).is_empty());
        assert_eq!(keys(&s.table_complete(1)), vec![1001, 2001]);
        assert_eq!(keys(&s.table_complete(3)), vec![3001]);
    }

    #[test]
    fn foreign_keys_left_to_post_data_never_start() {
        let catalog = Catalog {
            tables: vec![table(1), table(2)]
                .into_iter()
                .map(Into::into)
                .collect(),
            foreign_keys: vec![fk(1, 2)],
            ..Catalog::default()
        };
        let mut s = Schedule::new(&catalog, true, false);
        s.table_complete(1);
        assert!(keys(&s.table_complete(2)).is_empty());
    }

    #[test]
    fn tables_without_indexes_or_keys_make_nothing_ready() {
        let catalog = Catalog {
            tables: vec![table(1), table(2)]
                .into_iter()
                .map(Into::into)
                .collect(),
            ..Catalog::default()
        };
        let mut s = schedule(&catalog);
        for oid in [1, 2] {
            let ready = s.table_complete(oid);
            assert!(ready.parent.is_none() && ready.foreign_keys.is_empty());
        }
    }

    #[test]
    fn a_partitioned_table_is_built_after_its_last_partition_then_its_keys_start() {
        let catalog = Catalog {
            tables: vec![table(1), table(2), table(3), table(4)]
                .into_iter()
                .map(Into::into)
                .collect(),
            partitioned: vec![parent(10, &[11, 1]), parent(11, &[2, 3])],
            // 4 references the partitioned table 10.
            foreign_keys: vec![fk(4, 10)],
            ..Catalog::default()
        };
        let mut s = schedule(&catalog);
        assert!(s.parents_without_partitions().is_empty());
        assert!(keys(&s.table_complete(4)).is_empty());
        assert!(s.table_complete(2).parent.is_none());
        // Reported twice: still one partition of 11 left.
        assert!(s.table_complete(2).parent.is_none());
        let p11 = s.table_complete(3).parent.map(|p| p.oid);
        assert_eq!(p11, Some(11));
        assert!(s.table_complete(1).parent.is_none());
        // 11's indexes are built: 10's last partition is complete.
        let ready = s.table_complete(11);
        assert_eq!(ready.parent.map(|p| p.oid), Some(10));
        assert!(ready.foreign_keys.is_empty());
        assert_eq!(keys(&s.table_complete(10)), vec![4010]);
    }

    #[test]
    fn partitioned_tables_are_left_to_post_data_when_indexes_are() {
        let catalog = Catalog {
            tables: vec![table(1)].into_iter().map(Into::into).collect(),
            partitioned: vec![parent(10, &[1]), parent(30, &[])],
            ..Catalog::default()
        };
        let mut s = Schedule::new(&catalog, false, true);
        assert!(s.parents_without_partitions().is_empty());
        assert!(s.table_complete(1).parent.is_none());
    }

    #[test]
    fn parents_are_built_only_when_every_partition_below_is_copied() {
        let catalog = Catalog {
            tables: vec![table(1), table(2), table(3), table(4)]
                .into_iter()
                .map(Into::into)
                .collect(),
            partitioned: vec![
                // Two levels, all copied.
                parent(10, &[11, 1]),
                parent(11, &[2, 3]),
                // 99 is not copied (a foreign table, or filtered out): left
                // to post-data, and so is the parent above it.
                parent(20, &[4, 99]),
                parent(21, &[20]),
                // No partitions: built at once.
                parent(30, &[]),
            ],
            ..Catalog::default()
        };
        let mut built: Vec<u32> = parents_to_build(&catalog).into_keys().collect();
        built.sort();
        assert_eq!(built, vec![10, 11, 30]);
        let empty: Vec<u32> = schedule(&catalog)
            .parents_without_partitions()
            .iter()
            .map(|p| p.oid)
            .collect();
        assert_eq!(empty, vec![30]);
        // 4 is complete, but 20 is not built here: nothing follows.
        assert!(schedule(&catalog).table_complete(4).parent.is_none());
    }
}
