//! A part as the original pgcopydb lists it: `min`, `max` and `count`,
//! inclusive bounds on the split key (or heap pages) and the number of key
//! values (or pages) between them, `-1` where a bound is open. Our parts
//! are half-open ranges (see [`PartRange`]); this is only how they read in
//! `list table-parts` and `list schema`.

use serde_json::{json, Value};

use super::parts::{Part, PartRange};

/// Inclusive bounds and span of one part; `-1` stands for "no bound", as
/// in the original (its NULL part and its open-ended last part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartBounds {
    pub min: i64,
    pub max: i64,
    pub count: i64,
}

const OPEN: i64 = -1;

impl PartBounds {
    /// `key_min` is the smallest key value read on the source: our first key
    /// part has no lower bound, the original's starts there.
    pub fn of(part: &Part, key_min: Option<i64>) -> PartBounds {
        let (min, max) = match &part.range {
            PartRange::Key { from, to, .. } => (
                from.or(key_min).unwrap_or(OPEN),
                to.map_or(OPEN, |t| t.saturating_sub(1)),
            ),
            PartRange::Pages { from, to } => (
                i64::try_from(*from).unwrap_or(OPEN),
                to.and_then(|t| i64::try_from(t).ok())
                    .map_or(OPEN, |t| t - 1),
            ),
            PartRange::KeyIsNull { .. } | PartRange::Whole => (OPEN, OPEN),
        };
        let bounded = !matches!(part.range, PartRange::KeyIsNull { .. } | PartRange::Whole);
        let count = match bounded && min != OPEN && max != OPEN && max >= min {
            true => max.saturating_sub(min).saturating_add(1),
            false => OPEN,
        };
        PartBounds { min, max, count }
    }

    /// The original's text columns: a page bound reads `(page,0)`.
    pub fn text(&self, part: &Part) -> (String, String, String) {
        let pages = matches!(part.range, PartRange::Pages { .. });
        let bound = |b: i64| match pages && b != OPEN {
            true => format!("({b},0)"),
            false => b.to_string(),
        };
        (bound(self.min), bound(self.max), self.count.to_string())
    }
}

/// A part's JSON with the original's keys: `number`, `total` (parts of the
/// table), `min`, `max`, `count`; our `range` stays beside them.
pub fn part_json(part: &Part, key_min: Option<i64>) -> Value {
    let b = PartBounds::of(part, key_min);
    json!({
        "number": part.number,
        "total": part.count,
        "min": b.min,
        "max": b.max,
        "count": b.count,
        "range": part.range,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(range: PartRange) -> Part {
        Part {
            number: 1,
            count: 3,
            range,
        }
    }

    fn key(from: Option<i64>, to: Option<i64>) -> PartRange {
        PartRange::Key {
            column: "id".into(),
            from,
            to,
        }
    }

    #[test]
    fn bounds_read_as_the_original_prints_them() {
        let b = |r, min| {
            let p = PartBounds::of(&part(r), min);
            (p.min, p.max, p.count)
        };
        // The first part starts at the table's smallest key.
        assert_eq!(b(key(None, Some(3212)), Some(1)), (1, 3211, 3211));
        assert_eq!(b(key(Some(3212), Some(6423)), Some(1)), (3212, 6422, 3211));
        // The last one is open: no max, no count.
        assert_eq!(b(key(Some(12845), None), Some(1)), (12845, -1, -1));
        assert_eq!(
            b(
                PartRange::KeyIsNull {
                    column: "id".into()
                },
                Some(1)
            ),
            (-1, -1, -1)
        );
        assert_eq!(b(PartRange::Whole, None), (-1, -1, -1));
        let pages = PartRange::Pages {
            from: 10,
            to: Some(20),
        };
        assert_eq!(b(pages.clone(), None), (10, 19, 10));
        let p = part(pages);
        assert_eq!(
            PartBounds::of(&p, None).text(&p),
            ("(10,0)".into(), "(19,0)".into(), "10".into())
        );
    }
}
