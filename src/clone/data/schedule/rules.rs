//! The after-copy rules: once a table's data is in, which of its indexes
//! are built, whether its constraints are attached (and on which pool),
//! whether it is analyzed and how, whether it is complete already; once it
//! is complete, which foreign keys and parent indexes are still to do. They
//! read the steps of the command and what an earlier run finished, both
//! fixed for the phase, and do no I/O.

use std::collections::{HashMap, HashSet};

use crate::catalog::{Index, ParentIndex, Table};
use crate::clone::Steps;
use crate::copy::TargetRelation;
use crate::foreign_keys::ForeignKey;
use crate::indexes::buildable;
use crate::workdir::state::Unit;

/// The pool a table's constraints are attached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintPool {
    /// Attaching built indexes only writes the catalog: it must not queue
    /// behind long builds.
    Ddl,
    /// An EXCLUDE constraint builds its index as it is added: a build.
    Index,
}

pub struct Rules {
    steps: Steps,
    skip_vacuum: bool,
    target_major: u32,
    /// Keys of the units an earlier run finished (read once: this run's
    /// own progress is tracked by the schedule).
    done: HashSet<String>,
    /// The tables that are not plain tables on the target, by oid.
    target_relations: HashMap<u32, TargetRelation>,
    /// Foreign keys whose referenced data is excluded: added NOT VALID.
    fk_unvalidated: HashSet<u32>,
}

impl Rules {
    pub fn new(
        steps: Steps,
        (skip_vacuum, target_major): (bool, u32),
        done: HashSet<String>,
        target_relations: HashMap<u32, TargetRelation>,
        fk_unvalidated: HashSet<u32>,
    ) -> Rules {
        Rules {
            steps,
            skip_vacuum,
            target_major,
            done,
            target_relations,
            fk_unvalidated,
        }
    }

    pub fn steps(&self) -> &Steps {
        &self.steps
    }

    /// An earlier run finished `unit`.
    pub fn is_done(&self, unit: &Unit) -> bool {
        self.done.contains(&unit.key())
    }

    pub fn target_relation(&self, table: &Table) -> TargetRelation {
        self.target_relations
            .get(&table.oid)
            .copied()
            .unwrap_or_default()
    }

    /// Whether this phase builds `index` (one of the table's buildable ones).
    pub fn builds_index(&self, index: &Index) -> bool {
        self.steps.indexes && !self.is_done(&Unit::Index(index.oid))
    }

    /// Once every index of `table` is built: whether its constraints are
    /// attached now (PRIMARY KEY, UNIQUE, EXCLUDE, and the CLUSTER, replica
    /// identity and statistics settings of its indexes), and on which pool.
    pub fn constraints_to_attach(&self, table: &Table) -> Option<ConstraintPool> {
        let needs_finishing = table.indexes.iter().any(|i| {
            i.constraint.is_some()
                || i.clustered
                || i.replica_identity
                || !i.column_statistics.is_empty()
        });
        if !self.steps.constraints
            || !needs_finishing
            || self.is_done(&Unit::Constraints(table.oid))
        {
            return None;
        }
        let excludes = table
            .indexes
            .iter()
            .any(|i| i.constraint.as_ref().is_some_and(|c| c.kind == 'x'));
        Some(if excludes {
            ConstraintPool::Index
        } else {
            ConstraintPool::Ddl
        })
    }

    /// Once `table`'s indexes and constraints are in: the statement that
    /// gives it statistics, when this phase runs one.
    pub fn analyze(&self, table: &Table) -> Option<String> {
        if !self.steps.analyze || self.skip_vacuum || self.is_done(&Unit::Vacuum(table.oid)) {
            return None;
        }
        Some(format!(
            "{} {}",
            self.maintenance_command(table),
            table.qualified()
        ))
    }

    /// [`Rules::analyze`] for several tables at once: one statement per
    /// maintenance command (`ANALYZE a, b, ...`), one round trip and one
    /// commit per table saved. None when none of them is analyzed here.
    pub fn analyze_together(&self, tables: &[&Table]) -> Vec<String> {
        let mut by_command: Vec<(&'static str, Vec<String>)> = Vec::new();
        for table in tables {
            if self.analyze(table).is_none() {
                continue;
            }
            let command = self.maintenance_command(table);
            match by_command.iter_mut().find(|(c, _)| *c == command) {
                Some((_, names)) => names.push(table.qualified()),
                None => by_command.push((command, vec![table.qualified()])),
            }
        }
        by_command
            .into_iter()
            .map(|(command, names)| format!("{command} {}", names.join(", ")))
            .collect()
    }

    /// `COPY ... FREEZE` on PostgreSQL 14+ leaves the pages frozen and
    /// all-visible, so VACUUM would only re-read them: the statistics are
    /// what is missing.
    fn maintenance_command(&self, table: &Table) -> &'static str {
        let relation = self.target_relation(table);
        // Parts are copied without FREEZE (no TRUNCATE in their transaction),
        // and so is a table that is not a plain table on the target; a
        // foreign table's rows are vacuumed where they are stored.
        if relation == TargetRelation::Foreign
            || (self.target_major >= 14 && table.parts.is_empty() && relation.freezes())
        {
            "ANALYZE"
        } else {
            "VACUUM ANALYZE"
        }
    }

    /// Whether nothing of what follows `table`'s copy is left to do: it is
    /// complete as soon as the phase starts.
    pub fn after_copy_done(&self, table: &Table) -> bool {
        let steps = &self.steps;
        if !steps.after_copy() {
            return true;
        }
        (!steps.indexes || buildable(table).all(|i| self.is_done(&Unit::Index(i.oid))))
            && (!steps.constraints || self.is_done(&Unit::Constraints(table.oid)))
            && (!steps.analyze || self.skip_vacuum || self.is_done(&Unit::Vacuum(table.oid)))
    }

    /// A foreign key whose two tables are complete: `Some(validate)` when
    /// it is still to add, validated unless its referenced data is excluded.
    pub fn foreign_key(&self, fk: &ForeignKey) -> Option<bool> {
        (!self.is_done(&Unit::ForeignKey(fk.oid))).then(|| !self.fk_unvalidated.contains(&fk.oid))
    }

    /// Whether this phase still builds `index` of a partitioned table whose
    /// partitions are complete.
    pub fn builds_parent_index(&self, index: &ParentIndex) -> bool {
        !self.is_done(&Unit::ParentIndex(index.index.oid))
    }
}

/// A table at most this big (on the source) is copied in a group with
/// others: its cost is the round trips and commits around its rows, not
/// the rows.
pub const SMALL_TABLE_BYTES: i64 = 1024 * 1024;
/// At most this many tables share one target transaction: a crash redoes
/// the whole group, and the copy workers share the tail of the queue.
pub const GROUP_TABLES: usize = 50;
/// Overrides [`GROUP_TABLES`] (1: each table copied alone), for
/// measurements.
pub const GROUP_TABLES_ENV: &str = "PGCOPYDB_COPY_GROUP_TABLES";

/// [`GROUP_TABLES`], or its override from the environment.
pub fn group_tables() -> usize {
    std::env::var(GROUP_TABLES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(GROUP_TABLES)
}

/// Which copies of the queue, in its order, are taken together in one
/// target transaction: runs of consecutive whole tables (not parts) of at
/// most [`SMALL_TABLE_BYTES`], up to `max_tables` each. `copies` gives
/// each copy's bytes and whether it is a whole table; the ranges returned
/// hold at least two copies, the others are taken alone.
pub fn small_table_groups(
    copies: &[(i64, bool)],
    max_tables: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = None;
    for (i, &(bytes, whole)) in copies.iter().enumerate() {
        let small = whole && bytes <= SMALL_TABLE_BYTES;
        match (small, start) {
            (true, None) => start = Some(i),
            (true, Some(s)) if i - s >= max_tables => {
                groups.push(s..i);
                start = Some(i);
            }
            (false, Some(s)) => {
                groups.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        groups.push(s..copies.len());
    }
    groups.retain(|g| g.len() >= 2);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parts::{Part, PartRange};
    use crate::catalog::IndexConstraint;

    fn index(oid: u32, table: u32, constraint: Option<char>) -> Index {
        Index {
            oid,
            schema: "s".into(),
            name: format!("i{oid}"),
            table_oid: table,
            definition: format!("CREATE INDEX i{oid} ON s.t{table} USING btree (id)"),
            constraint: constraint.map(|kind| IndexConstraint {
                oid: oid + 1000,
                name: format!("c{oid}"),
                kind,
                deferrable: false,
                deferred: false,
                definition: "PRIMARY KEY (id)".into(),
            }),
            clustered: false,
            replica_identity: false,
            column_statistics: Vec::new(),
        }
    }

    fn table_with(oid: u32, indexes: Vec<Index>) -> Table {
        Table {
            indexes,
            ..Table::for_test(oid, 8192)
        }
    }

    fn rules(steps: Steps, done: &[Unit]) -> Rules {
        Rules::new(
            steps,
            (false, 15),
            done.iter().map(Unit::key).collect(),
            HashMap::new(),
            HashSet::new(),
        )
    }

    #[test]
    fn an_index_is_built_unless_done_or_left_to_another_step() {
        let i = index(10, 1, None);
        assert!(rules(Steps::CLONE, &[]).builds_index(&i));
        assert!(!rules(Steps::CLONE, &[Unit::Index(10)]).builds_index(&i));
        assert!(!rules(Steps::COPY_TABLE_DATA, &[]).builds_index(&i));
    }

    #[test]
    fn constraints_are_attached_only_for_tables_that_have_some() {
        let plain = table_with(1, vec![index(10, 1, None)]);
        assert_eq!(rules(Steps::CLONE, &[]).constraints_to_attach(&plain), None);
        let keyed = table_with(1, vec![index(10, 1, Some('p'))]);
        let r = rules(Steps::CLONE, &[]);
        assert_eq!(r.constraints_to_attach(&keyed), Some(ConstraintPool::Ddl));
        let done = rules(Steps::CLONE, &[Unit::Constraints(1)]);
        assert_eq!(done.constraints_to_attach(&keyed), None);
        let r = rules(Steps::COPY_INDEXES, &[]);
        assert_eq!(r.constraints_to_attach(&keyed), None);
        // CLUSTER ON an index without a constraint is finished there too.
        let mut clustered = index(11, 1, None);
        clustered.clustered = true;
        let t = table_with(1, vec![clustered]);
        let r = rules(Steps::CLONE, &[]);
        assert_eq!(r.constraints_to_attach(&t), Some(ConstraintPool::Ddl));
    }

    #[test]
    fn an_exclusion_constraint_is_attached_on_the_index_pool_it_builds_on() {
        let t = table_with(1, vec![index(10, 1, Some('p')), index(11, 1, Some('x'))]);
        let r = rules(Steps::CLONE, &[]);
        assert_eq!(r.constraints_to_attach(&t), Some(ConstraintPool::Index));
        assert_eq!(buildable(&t).count(), 1, "its index is not built apart");
    }

    #[test]
    fn a_frozen_plain_table_is_only_analyzed_from_postgres_14() {
        let t = Table::for_test(1, 0);
        let on = |major, relation| {
            let relations = HashMap::from([(1, relation)]);
            Rules::new(
                Steps::CLONE,
                (false, major),
                HashSet::new(),
                relations,
                HashSet::new(),
            )
            .analyze(&t)
        };
        assert_eq!(
            on(15, TargetRelation::Plain).as_deref(),
            Some("ANALYZE s.t1")
        );
        assert_eq!(
            on(13, TargetRelation::Plain).as_deref(),
            Some("VACUUM ANALYZE s.t1")
        );
        assert_eq!(
            on(15, TargetRelation::Partitioned).as_deref(),
            Some("VACUUM ANALYZE s.t1")
        );
        // A foreign table's rows are vacuumed where they are stored.
        assert_eq!(
            on(13, TargetRelation::Foreign).as_deref(),
            Some("ANALYZE s.t1")
        );
    }

    #[test]
    fn a_split_table_is_vacuumed_its_parts_being_copied_without_freeze() {
        let mut t = Table::for_test(1, 0);
        t.parts = (1..=2)
            .map(|number| Part {
                number,
                count: 2,
                range: PartRange::Pages { from: 0, to: None },
            })
            .collect();
        let r = rules(Steps::CLONE, &[]);
        assert_eq!(r.analyze(&t).as_deref(), Some("VACUUM ANALYZE s.t1"));
    }

    #[test]
    fn analyze_is_skipped_when_done_told_so_or_left_to_another_step() {
        let t = Table::for_test(1, 0);
        assert_eq!(rules(Steps::CLONE, &[Unit::Vacuum(1)]).analyze(&t), None);
        assert_eq!(rules(Steps::COPY_INDEXES, &[]).analyze(&t), None);
        let skip = Rules::new(
            Steps::CLONE,
            (true, 15),
            HashSet::new(),
            HashMap::new(),
            HashSet::new(),
        );
        assert_eq!(skip.analyze(&t), None);
    }

    #[test]
    fn a_table_is_complete_at_once_when_what_follows_its_copy_is_done() {
        let t = table_with(1, vec![index(10, 1, Some('p'))]);
        let all = [Unit::Index(10), Unit::Constraints(1), Unit::Vacuum(1)];
        assert!(rules(Steps::CLONE, &all).after_copy_done(&t));
        assert!(!rules(Steps::CLONE, &all[..2]).after_copy_done(&t));
        assert!(!rules(Steps::CLONE, &all[1..]).after_copy_done(&t));
        // Nothing follows the copy in `copy table-data`.
        assert!(rules(Steps::COPY_TABLE_DATA, &[]).after_copy_done(&t));
    }

    #[test]
    fn a_foreign_key_is_added_once_validated_unless_its_data_is_excluded() {
        let fk = ForeignKey::for_test(1, 2);
        let r = rules(Steps::CLONE, &[]);
        assert_eq!(r.foreign_key(&fk), Some(true));
        let unvalidated = HashSet::from([fk.oid]);
        let r = Rules::new(
            Steps::CLONE,
            (false, 15),
            HashSet::new(),
            HashMap::new(),
            unvalidated,
        );
        assert_eq!(r.foreign_key(&fk), Some(false));
        let done = rules(Steps::CLONE, &[Unit::ForeignKey(fk.oid)]);
        assert_eq!(done.foreign_key(&fk), None);
    }

    #[test]
    fn a_parent_index_is_built_unless_an_earlier_run_did() {
        let parent = ParentIndex {
            index: index(20, 5, Some('p')),
            children: Vec::new(),
        };
        assert!(rules(Steps::CLONE, &[]).builds_parent_index(&parent));
        assert!(!rules(Steps::CLONE, &[Unit::ParentIndex(20)]).builds_parent_index(&parent));
    }

    #[test]
    fn small_whole_tables_are_grouped_in_runs_up_to_the_group_size() {
        let big = (SMALL_TABLE_BYTES + 1, true);
        let small = (8192, true);
        let part = (10, false);
        let mut copies = vec![big, part];
        copies.extend(std::iter::repeat_n(small, GROUP_TABLES + 3));
        copies.push(part);
        copies.extend([small, small]);
        let n = copies.len();
        assert_eq!(
            small_table_groups(&copies, GROUP_TABLES),
            vec![
                2..2 + GROUP_TABLES,
                2 + GROUP_TABLES..5 + GROUP_TABLES,
                n - 2..n
            ]
        );
    }

    #[test]
    fn a_lone_small_table_and_big_tables_and_parts_are_not_grouped() {
        let big = (SMALL_TABLE_BYTES + 1, true);
        let copies = [big, (0, true), big, (0, false), (0, false), big];
        assert!(small_table_groups(&copies, GROUP_TABLES).is_empty());
        assert!(small_table_groups(&[], GROUP_TABLES).is_empty());
        // A group size of 1 turns grouping off.
        assert!(small_table_groups(&[(0, true); 4], 1).is_empty());
    }

    #[test]
    fn tables_analyzed_together_share_one_statement_per_command() {
        let r = rules(Steps::CLONE, &[Unit::Vacuum(3)]);
        let (a, b, done) = (
            table_with(1, vec![]),
            table_with(2, vec![]),
            table_with(3, vec![]),
        );
        let statements = r.analyze_together(&[&a, &b, &done]);
        assert_eq!(statements.len(), 1);
        assert!(statements[0].ends_with(&format!("{}, {}", a.qualified(), b.qualified())));
        assert!(r.analyze_together(&[&done]).is_empty());
    }
}
