//! A restore order for running one section in several `pg_restore` at once,
//! from the dependencies the archive records for each entry.
//!
//! Entries get a level: one more than the highest level among what they
//! depend on. Entries of one level never depend on each other, so they can
//! be restored side by side once every lower level is done. A dependency on
//! an entry the restore leaves out is followed through to what that entry
//! depends on, so a chain is never cut by a skipped link.
//!
//! A comment, privileges or a security label is restored by the same
//! pg_restore as its object: pg_restore leaves one out when its object is
//! not in the list it restores. Default privileges (`DEFAULT ACL`) come
//! after every other entry, as in pg_restore: set early, they would change
//! the privileges of the objects created after them.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::TocEntry;

/// One step of the restore: everything of earlier stages is restored first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Entries restored by one pg_restore, in archive order (which pg_dump
    /// sorts so that each entry comes after what it depends on).
    Serial(Vec<u32>),
    /// Batches of independent entries, one pg_restore each, side by side.
    Parallel(Vec<Vec<u32>>),
}

/// Restored by pg_restore in every session whatever the list says.
const SESSION_SETTINGS: &[&str] = &["ENCODING", "STDSTRINGS", "SEARCHPATH"];

/// Restored by pg_restore after all the other entries (its ACL pass), and
/// not attached to one object.
fn in_last_pass(e: &TocEntry) -> bool {
    e.desc == "DEFAULT ACL"
}

/// Entries about one object (their first dependency), which pg_restore
/// restores only along with it.
fn is_satellite(e: &TocEntry) -> bool {
    matches!(
        e.desc.as_str(),
        "COMMENT" | "ACL" | "SECURITY LABEL" | "ACL LANGUAGE"
    )
}

/// The stages restoring the `kept` entries of `entries` (one section's
/// listing, in archive order, with dependencies) with up to `workers`
/// pg_restore at a time; a level of fewer than `min_batch * 2` entries is
/// not worth more processes and joins the serial stage around it. An error
/// says why the listing cannot be scheduled (the caller then restores it
/// all with one pg_restore).
pub fn plan(
    entries: &[TocEntry],
    kept: &HashSet<u32>,
    workers: usize,
    min_batch: usize,
) -> Result<Vec<Stage>, String> {
    let levels = levels(entries, kept)?;
    // Units (an object and the entries about it) grouped by pass (default
    // privileges last), then level; in archive order within a group.
    let mut groups: BTreeMap<(bool, u32), Vec<Vec<u32>>> = BTreeMap::new();
    let mut unit_of: HashMap<u32, ((bool, u32), usize)> = HashMap::new();
    for e in entries {
        let Some(&level) = levels.level.get(&e.dump_id) else {
            continue;
        };
        let home = levels.parent.get(&e.dump_id).and_then(|p| unit_of.get(p));
        let (key, at) = match home {
            Some(&home) => home,
            None => {
                let key = (in_last_pass(e), level);
                let units = groups.entry(key).or_default();
                units.push(Vec::new());
                (key, units.len() - 1)
            }
        };
        unit_of.insert(e.dump_id, (key, at));
        if let Some(unit) = groups.get_mut(&key).and_then(|units| units.get_mut(at)) {
            unit.push(e.dump_id);
        }
    }

    let mut stages = Vec::new();
    let mut serial: Vec<u32> = Vec::new();
    for units in groups.into_values() {
        let batches = split(units, workers, min_batch);
        if batches.len() < 2 {
            serial.extend(batches.into_iter().flatten());
            continue;
        }
        if !serial.is_empty() {
            stages.push(Stage::Serial(in_archive_order(entries, &serial)));
            serial.clear();
        }
        stages.push(Stage::Parallel(
            batches
                .iter()
                .map(|ids| in_archive_order(entries, ids))
                .collect(),
        ));
    }
    if !serial.is_empty() {
        stages.push(Stage::Serial(in_archive_order(entries, &serial)));
    }
    Ok(stages)
}

/// Units cut into at most `workers` batches of about the same number of
/// entries, each of at least `min_batch`; one batch when that is all the
/// group is worth.
fn split(units: Vec<Vec<u32>>, workers: usize, min_batch: usize) -> Vec<Vec<u32>> {
    let total: usize = units.iter().map(Vec::len).sum();
    let count = workers.min(total / min_batch.max(1)).max(1);
    let size = total.div_ceil(count);
    let mut batches: Vec<Vec<u32>> = vec![Vec::new()];
    for unit in units {
        if batches.last().is_some_and(|b| b.len() >= size) {
            batches.push(Vec::new());
        }
        if let Some(batch) = batches.last_mut() {
            batch.extend(unit);
        }
    }
    batches
}

/// `ids` sorted as in `entries`: the order one pg_restore must follow.
fn in_archive_order(entries: &[TocEntry], ids: &[u32]) -> Vec<u32> {
    let wanted: HashSet<u32> = ids.iter().copied().collect();
    entries
        .iter()
        .map(|e| e.dump_id)
        .filter(|id| wanted.contains(id))
        .collect()
}

struct Levels {
    /// Of each kept entry: 1 for one that depends on nothing kept.
    level: HashMap<u32, u32>,
    /// Of each kept entry about a kept object: that object.
    parent: HashMap<u32, u32>,
}

fn levels(entries: &[TocEntry], kept: &HashSet<u32>) -> Result<Levels, String> {
    let listed: HashSet<u32> = entries.iter().map(|e| e.dump_id).collect();
    let last_pass: HashSet<u32> = entries
        .iter()
        .filter(|e| in_last_pass(e))
        .map(|e| e.dump_id)
        .collect();
    // For a kept entry its level; for a skipped one the highest level among
    // the kept entries it leads to.
    let mut reach: HashMap<u32, u32> = HashMap::new();
    let mut level = HashMap::new();
    let mut parent = HashMap::new();
    let mut any_dependency = false;
    let scheduled = |e: &&TocEntry| !SESSION_SETTINGS.contains(&e.desc.as_str());
    for e in entries.iter().filter(scheduled) {
        let mut highest = 0;
        let mut highest_but_first = 0;
        for (i, dep) in e.depends_on.iter().enumerate() {
            any_dependency = true;
            // Objects outside this section's listing are not restored by
            // this restore: nothing here waits for them.
            if !listed.contains(dep) {
                continue;
            }
            let Some(&dep_level) = reach.get(dep) else {
                return Err(format!(
                    "entry {} depends on entry {dep}, which the archive lists after it",
                    e.dump_id
                ));
            };
            if dep_level > 0 && last_pass.contains(dep) && !in_last_pass(e) {
                return Err(format!(
                    "entry {} ({}) depends on default privileges (entry {dep}), \
                     which pg_restore restores last",
                    e.dump_id, e.desc
                ));
            }
            highest = highest.max(dep_level);
            if i > 0 {
                highest_but_first = highest_but_first.max(dep_level);
            }
        }
        if !kept.contains(&e.dump_id) {
            reach.insert(e.dump_id, highest);
            continue;
        }
        let object = e.depends_on.first().filter(|_| is_satellite(e));
        match object.and_then(|o| level.get(o).map(|&l| (*o, l))) {
            Some((object, object_level)) => {
                // Restored with its object: what else it needs must be done
                // before the object's level starts.
                if highest_but_first >= object_level {
                    return Err(format!(
                        "entry {} ({}) needs more than its object, entry {object}",
                        e.dump_id, e.desc
                    ));
                }
                parent.insert(e.dump_id, object);
                level.insert(e.dump_id, object_level);
                reach.insert(e.dump_id, object_level);
            }
            None => {
                level.insert(e.dump_id, highest + 1);
                reach.insert(e.dump_id, highest + 1);
            }
        }
    }
    if !any_dependency && level.len() > 1 {
        return Err(
            "the archive listing shows no dependencies (pg_restore --list --verbose)".into(),
        );
    }
    Ok(Levels { level, parent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32, desc: &str, deps: &[u32]) -> TocEntry {
        TocEntry {
            dump_id: id,
            depends_on: deps.to_vec(),
            ..TocEntry::named(desc, &format!("e{id}"))
        }
    }

    fn all(entries: &[TocEntry]) -> HashSet<u32> {
        entries.iter().map(|e| e.dump_id).collect()
    }

    #[test]
    fn levels_follow_dependencies_and_run_side_by_side() {
        // schema 1; tables 2, 3 in it; 4 uses 2's row type; view 5 over 3, 4.
        let entries = [
            entry(9, "ENCODING", &[]),
            entry(1, "SCHEMA", &[]),
            entry(2, "TABLE", &[1]),
            entry(3, "TABLE", &[1]),
            entry(4, "TABLE", &[1, 2]),
            entry(5, "VIEW", &[3, 4]),
        ];
        let stages = plan(&entries, &all(&entries), 2, 1).unwrap();
        assert_eq!(
            stages,
            [
                Stage::Serial(vec![1]),
                Stage::Parallel(vec![vec![2], vec![3]]),
                Stage::Serial(vec![4, 5]),
            ]
        );
    }

    #[test]
    fn a_skipped_entry_does_not_cut_the_chain() {
        // 3 depends on 1 through 2, which is left out.
        let entries = [
            entry(1, "FUNCTION", &[]),
            entry(2, "TYPE", &[1]),
            entry(3, "TABLE", &[2]),
            entry(4, "TABLE", &[]),
        ];
        let kept: HashSet<u32> = [1, 3, 4].into();
        let levels = levels(&entries, &kept).unwrap().level;
        assert_eq!((levels[&1], levels[&3], levels[&4]), (1, 2, 1));
        assert!(!levels.contains_key(&2));
    }

    #[test]
    fn comments_and_privileges_go_with_their_object_default_privileges_last() {
        let entries = [
            entry(1, "TABLE", &[]),
            entry(2, "ACL", &[1]),
            entry(3, "TABLE", &[]),
            entry(4, "TABLE", &[3]),
            entry(5, "COMMENT", &[3]),
            entry(6, "TABLE", &[4]),
            entry(7, "SECURITY LABEL", &[6]),
            entry(8, "DEFAULT ACL", &[]),
            entry(9, "DEFAULT ACL", &[]),
        ];
        let stages = plan(&entries, &all(&entries), 2, 1).unwrap();
        assert_eq!(
            stages,
            [
                Stage::Parallel(vec![vec![1, 2], vec![3, 5]]),
                Stage::Serial(vec![4, 6, 7]),
                Stage::Parallel(vec![vec![8], vec![9]]),
            ]
        );
    }

    #[test]
    fn small_levels_join_one_serial_stage() {
        let entries = [
            entry(1, "SCHEMA", &[]),
            entry(2, "TABLE", &[1]),
            entry(3, "TABLE", &[1]),
            entry(4, "COMMENT", &[2]),
        ];
        let stages = plan(&entries, &all(&entries), 4, 100).unwrap();
        assert_eq!(stages, [Stage::Serial(vec![1, 2, 3, 4])]);
    }

    #[test]
    fn unexpected_listings_are_refused() {
        let backwards = [entry(1, "TABLE", &[2]), entry(2, "SCHEMA", &[])];
        assert!(plan(&backwards, &all(&backwards), 2, 1)
            .unwrap_err()
            .contains("lists after it"));
        let no_dependencies = [entry(1, "SCHEMA", &[]), entry(2, "TABLE", &[])];
        assert!(plan(&no_dependencies, &all(&no_dependencies), 2, 1).is_err());
        let after_last = [entry(1, "DEFAULT ACL", &[]), entry(2, "TABLE", &[1])];
        assert!(plan(&after_last, &all(&after_last), 2, 1).is_err());
        // A comment needing what its object's level may not have.
        let comment = [
            entry(1, "TABLE", &[]),
            entry(2, "TABLE", &[]),
            entry(3, "COMMENT", &[1, 2]),
        ];
        assert!(plan(&comment, &all(&comment), 2, 1)
            .unwrap_err()
            .contains("more than its object"));
    }
}
