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
/// source's sequences, which follow the tables rather than their names or
/// their schema: a sequence is kept when a kept table owns it (`OWNED BY`,
/// identity) or calls it in a column default, wherever it lives, since the
/// table's `CREATE TABLE` cannot be restored without it. A sequence that
/// only left-out tables need goes with them, and a standalone one (no
/// owner, no default) goes when it is a seed or its schema is left out: a
/// sequence among `seeds` is a request, not a decision.
pub fn closure(edges: &[Edge], seeds: &BTreeSet<Obj>, sequences: &BTreeSet<u32>) -> Closure {
    let mut dependents: HashMap<Obj, Vec<(Obj, char)>> = HashMap::new();
    // 'i': the dependent is an internal part of the referenced object (a
    // view's rule, a constraint's index), so leaving out the part leaves
    // out the whole.
    let mut owners: HashMap<Obj, Vec<Obj>> = HashMap::new();
    // Per sequence: the table owning it ('a' serial, 'i' identity) and the
    // column defaults calling it.
    let mut owned_by: HashMap<u32, Vec<(Obj, char)>> = HashMap::new();
    let mut defaults: HashMap<u32, Vec<Obj>> = HashMap::new();
    let is_sequence = |o: Obj| o.0 == PG_CLASS && sequences.contains(&o.1);
    for e in edges {
        dependents
            .entry(e.referenced)
            .or_default()
            .push((e.dependent, e.deptype));
        if e.deptype == 'i' {
            owners.entry(e.dependent).or_default().push(e.referenced);
        }
        if is_sequence(e.dependent) && e.referenced.0 == PG_CLASS && "ai".contains(e.deptype) {
            owned_by
                .entry(e.dependent.1)
                .or_default()
                .push((e.referenced, e.deptype));
        }
        if is_sequence(e.referenced) && e.dependent.0 == PG_ATTRDEF {
            defaults
                .entry(e.referenced.1)
                .or_default()
                .push(e.dependent);
        }
    }

    let mut excluded: BTreeSet<Obj> = BTreeSet::new();
    // Sequences named by the filters or reached from an excluded schema or
    // owning table: decided once everything else is known.
    let (mut reached, mut work): (BTreeSet<u32>, Vec<Obj>) = (BTreeSet::new(), Vec::new());
    for &seed in seeds {
        if is_sequence(seed) {
            reached.insert(seed.1);
        } else {
            work.push(seed);
        }
    }
    loop {
        while let Some(obj) = work.pop() {
            if !excluded.insert(obj) {
                continue;
            }
            for &(dep, deptype) in dependents.get(&obj).into_iter().flatten() {
                // An identity sequence is part of its table's definition.
                if is_sequence(dep) && deptype != 'i' {
                    reached.insert(dep.1);
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
        let mut more = false;
        for &seq in sequences {
            let obj = (PG_CLASS, seq);
            if excluded.contains(&obj) {
                continue;
            }
            let owner = owned_by.get(&seq);
            let used = defaults.get(&seq);
            let kept_owner = owner
                .into_iter()
                .flatten()
                .any(|(t, _)| !excluded.contains(t));
            let kept_user = used.into_iter().flatten().any(|d| !excluded.contains(d));
            let standalone = owner.is_none() && used.is_none();
            if !(kept_owner || kept_user || (standalone && !reached.contains(&seq))) {
                work.push(obj);
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    let kept_owned_sequences = owned_by
        .iter()
        .filter(|(seq, owner)| {
            !excluded.contains(&(PG_CLASS, **seq))
                && owner
                    .iter()
                    .any(|(t, deptype)| *deptype == 'a' && excluded.contains(t))
        })
        .map(|(seq, _)| *seq)
        .collect();
    Closure {
        excluded,
        kept_owned_sequences,
    }
}
