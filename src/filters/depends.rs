//! What `DROP ... CASCADE` of the filtered objects would take with them,
//! computed from the source's `pg_depend`: those objects are left out too,
//! so the target never gets an index, constraint, view or default that
//! points at something that is not there.

use std::collections::{BTreeSet, HashMap};

/// `(classid, objid)`: a catalog OID and an object OID in it.
pub type Obj = (u32, u32);

pub const PG_CLASS: u32 = 1259;
pub const PG_ATTRDEF: u32 = 2604;
pub const PG_NAMESPACE: u32 = 2615;
pub const PG_EXTENSION: u32 = 3079;

/// One `pg_depend` row: `dependent` depends on `referenced`.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub dependent: Obj,
    pub referenced: Obj,
    pub deptype: char,
}

pub struct Closure {
    pub excluded: BTreeSet<Obj>,
    /// Sequences owned by an excluded table but kept because a kept table
    /// uses them as a column default (#816 of the original).
    pub kept_owned_sequences: BTreeSet<u32>,
}

/// Everything that goes with `seeds`. `sequences` are the OIDs of the
/// source's sequences, whose ownership edges get special treatment.
pub fn closure(edges: &[Edge], seeds: &BTreeSet<Obj>, sequences: &BTreeSet<u32>) -> Closure {
    let mut dependents: HashMap<Obj, Vec<(Obj, char)>> = HashMap::new();
    // 'i': the dependent is an internal part of the referenced object (a
    // view's rule, a constraint's index), so leaving out the part leaves
    // out the whole.
    let mut owners: HashMap<Obj, Vec<Obj>> = HashMap::new();
    for e in edges {
        dependents
            .entry(e.referenced)
            .or_default()
            .push((e.dependent, e.deptype));
        if e.deptype == 'i' {
            owners.entry(e.dependent).or_default().push(e.referenced);
        }
    }
    let is_owned_sequence = |dep: Obj, deptype: char, on: Obj| {
        deptype == 'a' && dep.0 == PG_CLASS && on.0 == PG_CLASS && sequences.contains(&dep.1)
    };

    let mut excluded: BTreeSet<Obj> = BTreeSet::new();
    let mut work: Vec<Obj> = seeds.iter().copied().collect();
    // Sequences owned by an excluded table, to decide on later.
    let mut deferred: BTreeSet<u32> = BTreeSet::new();
    let mut kept = BTreeSet::new();
    loop {
        while let Some(obj) = work.pop() {
            if !excluded.insert(obj) {
                continue;
            }
            for &(dep, deptype) in dependents.get(&obj).into_iter().flatten() {
                if is_owned_sequence(dep, deptype, obj) {
                    deferred.insert(dep.1);
                } else if !excluded.contains(&dep) {
                    work.push(dep);
                }
            }
            for &owner in owners.get(&obj).into_iter().flatten() {
                if !excluded.contains(&owner) {
                    work.push(owner);
                }
            }
        }
        // An owned sequence goes with its table unless a kept column
        // default still calls it; decided once everything else is known.
        let mut more = false;
        let candidates: BTreeSet<u32> = deferred.iter().chain(kept.iter()).copied().collect();
        kept.clear();
        for seq in candidates {
            let obj = (PG_CLASS, seq);
            if excluded.contains(&obj) {
                continue;
            }
            let used_by_kept_default = dependents
                .get(&obj)
                .into_iter()
                .flatten()
                .any(|&(d, _)| d.0 == PG_ATTRDEF && !excluded.contains(&d));
            if used_by_kept_default {
                kept.insert(seq);
            } else {
                work.push(obj);
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    Closure {
        excluded,
        kept_owned_sequences: kept,
    }
}
