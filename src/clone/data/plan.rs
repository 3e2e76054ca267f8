//! The data phase's plan, built once before any of its work starts and only
//! read afterwards: per table, whether it is copied (whole, or in parts,
//! after one TRUNCATE), or only what follows its copy is left, or nothing;
//! the copies in the order they are taken, biggest first; the sequences and
//! large objects; and the [`Rules`] that decide what follows each copy.

use std::collections::HashSet;
use std::sync::Arc;

use super::schedule::Rules;
use super::table_copy::{CopyJob, WorkItem};
use crate::catalog::parts::PartRange;
use crate::catalog::{Catalog, Sequence, Table};
use crate::workdir::state::Unit;

/// What the phase does with one table.
pub(super) enum TableStart {
    /// Copied whole by one of the plan's copies.
    Copy,
    /// Copied in `parts` of the plan's copies (fewer than it has on resume),
    /// after a TRUNCATE when `truncate`. With no part left, its data is in.
    Split {
        table: Arc<Table>,
        truncate: bool,
        parts: usize,
    },
    /// Its data is in (an earlier run copied it, or it is excluded): what
    /// follows its copy is left.
    AfterCopy(Arc<Table>),
    /// Nothing is left to do for it.
    Complete(Arc<Table>),
}

pub(super) struct Plan {
    pub rules: Rules,
    /// Per table of the catalog, in its order.
    pub tables: Vec<TableStart>,
    /// The copies, in the order the workers take them.
    pub copies: Vec<WorkItem>,
    pub sequences: Vec<Sequence>,
    pub large_objects: Vec<u32>,
    /// Copy priority of referenced tables (see `order`).
    referenced_weights: std::collections::HashMap<u32, i64>,
}

impl Plan {
    /// `started`: the units an earlier run started, done or not.
    pub fn new(catalog: &Catalog, rules: Rules, started: &HashSet<String>) -> Plan {
        let mut tables = Vec::with_capacity(catalog.tables.len());
        let mut copies = Vec::new();
        let steps = *rules.steps();
        for table in &catalog.tables {
            let table = table.clone();
            // exclude-table-data: no COPY, but indexes, constraints and
            // analyze, as for a table copied by an earlier run.
            let copied =
                !steps.table_data || !table.copy_data || rules.is_done(&Unit::Table(table.oid));
            let start = if !copied && table.parts.is_empty() {
                copies.push(WorkItem {
                    table,
                    part: None,
                    clear_first: false,
                });
                TableStart::Copy
            } else if !copied {
                let (truncate, parts) = split_items(&rules, &table, started);
                let start = TableStart::Split {
                    table,
                    truncate,
                    parts: parts.len(),
                };
                copies.extend(parts);
                start
            } else if rules.after_copy_done(&table) {
                TableStart::Complete(table)
            } else {
                TableStart::AfterCopy(table)
            };
            tables.push(start);
        }
        let mut plan = Plan {
            rules,
            tables,
            copies: Vec::new(),
            sequences: catalog.sequences.clone(),
            large_objects: catalog.large_objects.clone(),
            referenced_weights: super::order::referenced_weights(catalog),
        };
        copies.sort_by_key(|i| std::cmp::Reverse(plan.priority(i)));
        plan.copies = copies;
        plan
    }

    /// Where an item goes in the copy queue: its size, or more for a table
    /// that big tables' foreign keys wait on.
    pub fn priority(&self, item: &WorkItem) -> i64 {
        let weight = self.referenced_weights.get(&item.table.oid).copied();
        item.bytes().max(weight.unwrap_or(0))
    }

    /// The copies as the workers take them: runs of small whole tables in
    /// groups, each group copied in one target transaction (see
    /// [`super::schedule::small_table_groups`]), the others alone.
    pub fn jobs(&self) -> Vec<CopyJob> {
        let shapes: Vec<(i64, bool)> = self
            .copies
            .iter()
            .map(|i| (i.bytes(), i.part.is_none()))
            .collect();
        let groups = super::schedule::small_table_groups(&shapes, super::schedule::group_tables());
        let mut groups = groups.into_iter().peekable();
        let mut jobs = Vec::new();
        let mut group = Vec::new();
        for (i, item) in self.copies.iter().enumerate() {
            match groups.peek() {
                Some(g) if g.contains(&i) => {
                    group.push(item.table.clone());
                    if i + 1 == g.end {
                        jobs.push(CopyJob::Group(std::mem::take(&mut group)));
                        groups.next();
                    }
                }
                _ => jobs.push(CopyJob::One(item.clone())),
            }
        }
        jobs
    }

    /// How many tables an earlier run (or the filters) left nothing to copy of.
    pub fn copied_already(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| matches!(t, TableStart::AfterCopy(_) | TableStart::Complete(_)))
            .count()
    }
}

/// The parts of a split table still to copy, and whether it is truncated
/// first. The table is truncated once before its parts start; on resume, a
/// key-range part that was started is cleared before it is copied again,
/// while ctid-range parts cannot be matched to target rows, so a table with
/// such a part cut short starts over.
fn split_items(
    rules: &Rules,
    table: &Arc<Table>,
    started: &HashSet<String>,
) -> (bool, Vec<WorkItem>) {
    let part_units: Vec<Unit> = table
        .parts
        .iter()
        .map(|p| Unit::Part(table.oid, p.number))
        .collect();
    let cut_short = |u: &Unit| started.contains(&u.key()) && !rules.is_done(u);
    let by_pages = table
        .parts
        .iter()
        .any(|p| matches!(p.range, PartRange::Pages { .. }));
    let start_over = !rules.is_done(&Unit::Truncate(table.oid))
        || (by_pages && part_units.iter().any(cut_short));
    let items = part_units
        .iter()
        .enumerate()
        .filter(|(_, unit)| start_over || !rules.is_done(unit))
        .map(|(i, unit)| WorkItem {
            table: table.clone(),
            part: Some(i),
            clear_first: !start_over && cut_short(unit),
        })
        .collect();
    (start_over, items)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::catalog::parts::Part;
    use crate::clone::Steps;

    fn split(oid: u32, bytes: i64, by_pages: bool) -> Table {
        Table {
            parts: (1..=3)
                .map(|number| Part {
                    number,
                    count: 3,
                    range: if by_pages {
                        PartRange::Pages { from: 0, to: None }
                    } else {
                        PartRange::Key {
                            column: "id".into(),
                            from: None,
                            to: None,
                        }
                    },
                })
                .collect(),
            ..Table::for_test(oid, bytes)
        }
    }

    fn plan(catalog: &Catalog, done: &[Unit], started: &[Unit]) -> Plan {
        let rules = Rules::new(
            Steps::CLONE,
            (false, 15),
            done.iter().map(Unit::key).collect(),
            HashMap::new(),
            HashSet::new(),
        );
        let started = started.iter().chain(done).map(Unit::key).collect();
        Plan::new(catalog, rules, &started)
    }

    fn order(plan: &Plan) -> Vec<(u32, Option<usize>, bool)> {
        let item = |i: &WorkItem| (i.table.oid, i.part, i.clear_first);
        plan.copies.iter().map(item).collect()
    }

    #[test]
    fn copies_are_taken_biggest_first_and_done_tables_only_finish() {
        let catalog = Catalog {
            tables: vec![
                Table::for_test(1, 10),
                Table::for_test(2, 30),
                Table::for_test(3, 20),
            ]
            .into_iter()
            .map(Into::into)
            .collect(),
            ..Catalog::default()
        };
        let p = plan(&catalog, &[Unit::Table(3)], &[]);
        assert_eq!(order(&p), [(2, None, false), (1, None, false)]);
        assert!(matches!(p.tables[2], TableStart::AfterCopy(_)));
        assert_eq!(p.copied_already(), 1);
        let all = [Unit::Table(3), Unit::Constraints(3), Unit::Vacuum(3)];
        assert!(matches!(
            plan(&catalog, &all, &[]).tables[2],
            TableStart::Complete(_)
        ));
    }

    #[test]
    fn a_referenced_table_ranks_with_the_biggest_table_referencing_it() {
        let catalog = Catalog {
            tables: vec![
                Table::for_test(1, 1000),
                Table::for_test(2, 1),
                Table::for_test(3, 10),
            ]
            .into_iter()
            .map(Into::into)
            .collect(),
            foreign_keys: vec![crate::foreign_keys::ForeignKey::for_test(1, 2)],
            ..Catalog::default()
        };
        let oids: Vec<u32> = order(&plan(&catalog, &[], &[]))
            .iter()
            .map(|i| i.0)
            .collect();
        assert_eq!(oids, [1, 2, 3]);
    }

    #[test]
    fn a_split_table_is_truncated_once_then_copied_in_all_its_parts() {
        let catalog = Catalog {
            tables: vec![split(1, 300, true)]
                .into_iter()
                .map(Into::into)
                .collect(),
            ..Catalog::default()
        };
        let p = plan(&catalog, &[], &[]);
        assert!(matches!(
            p.tables[0],
            TableStart::Split {
                truncate: true,
                parts: 3,
                ..
            }
        ));
        assert_eq!(p.copies.len(), 3);
    }

    #[test]
    fn a_resumed_key_range_split_clears_only_the_part_cut_short() {
        let catalog = Catalog {
            tables: vec![split(1, 300, false)]
                .into_iter()
                .map(Into::into)
                .collect(),
            ..Catalog::default()
        };
        let done = [Unit::Truncate(1), Unit::Part(1, 1)];
        let p = plan(&catalog, &done, &[Unit::Part(1, 2)]);
        assert!(matches!(
            p.tables[0],
            TableStart::Split {
                truncate: false,
                parts: 2,
                ..
            }
        ));
        assert_eq!(order(&p), [(1, Some(1), true), (1, Some(2), false)]);
    }

    #[test]
    fn a_resumed_ctid_range_split_with_a_part_cut_short_starts_over() {
        let catalog = Catalog {
            tables: vec![split(1, 300, true)]
                .into_iter()
                .map(Into::into)
                .collect(),
            ..Catalog::default()
        };
        let done = [Unit::Truncate(1), Unit::Part(1, 1)];
        let p = plan(&catalog, &done, &[Unit::Part(1, 2)]);
        assert!(matches!(
            p.tables[0],
            TableStart::Split {
                truncate: true,
                parts: 3,
                ..
            }
        ));
        // Truncated: no part has rows to clear.
        assert!(p.copies.iter().all(|i| !i.clear_first));
        // Without a part cut short, only the parts not done are copied.
        let p = plan(&catalog, &done, &[]);
        assert!(matches!(
            p.tables[0],
            TableStart::Split {
                truncate: false,
                parts: 2,
                ..
            }
        ));
    }

    #[test]
    fn a_split_table_whose_parts_are_all_in_has_nothing_to_copy() {
        let catalog = Catalog {
            tables: vec![split(1, 300, true)]
                .into_iter()
                .map(Into::into)
                .collect(),
            ..Catalog::default()
        };
        let done = [
            Unit::Truncate(1),
            Unit::Part(1, 1),
            Unit::Part(1, 2),
            Unit::Part(1, 3),
        ];
        let p = plan(&catalog, &done, &[]);
        assert!(matches!(
            p.tables[0],
            TableStart::Split {
                truncate: false,
                parts: 0,
                ..
            }
        ));
        assert!(p.copies.is_empty());
    }

    #[test]
    fn excluded_data_is_not_copied_but_what_follows_is_done() {
        let mut t = Table::for_test(1, 10);
        t.copy_data = false;
        let catalog = Catalog {
            tables: vec![t].into_iter().map(Into::into).collect(),
            ..Catalog::default()
        };
        let p = plan(&catalog, &[], &[]);
        assert!(p.copies.is_empty());
        assert!(matches!(p.tables[0], TableStart::AfterCopy(_)));
    }
}
