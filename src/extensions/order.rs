//! Ordering things after what they depend on (extensions after the ones
//! they require, configuration tables after the ones their foreign keys
//! reference).

use std::collections::{HashMap, HashSet};

/// `items` reordered so that each comes after every item it depends on
/// (`deps`: key → keys it needs), otherwise keeping their order. Keys not
/// among the items are ignored; items caught in a cycle keep their order.
pub fn dependencies_first<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> u32,
    deps: &HashMap<u32, Vec<u32>>,
) -> Vec<T> {
    let present: HashSet<u32> = items.iter().map(&key).collect();
    let mut placed: HashSet<u32> = HashSet::new();
    let mut pending: Vec<T> = items;
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for item in pending {
            let k = key(&item);
            let ready = deps
                .get(&k)
                .into_iter()
                .flatten()
                .all(|d| *d == k || !present.contains(d) || placed.contains(d));
            if ready {
                placed.insert(k);
                out.push(item);
            } else {
                rest.push(item);
            }
        }
        if rest.len() == before {
            // A cycle: nothing more can be ordered, keep the given order.
            out.extend(rest);
            break;
        }
        pending = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_cycles_stay() {
        let deps: HashMap<u32, Vec<u32>> = [
            (1, vec![3]),
            (3, vec![2]),
            (4, vec![5]),
            (5, vec![4]),
            (6, vec![99]),
        ]
        .into_iter()
        .collect();
        let got = dependencies_first(vec![1, 2, 3, 4, 5, 6], |x| *x, &deps);
        assert_eq!(got, vec![2, 3, 6, 1, 4, 5]);
    }
}
