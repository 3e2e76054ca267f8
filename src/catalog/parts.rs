//! Same-table concurrency: how a large table is cut into parts that separate
//! COPY jobs read at once, and the size strings of `--split-tables-larger-than`.
//!
//! The planner is a pure function so that `list table-parts` and the copy
//! itself agree on the plan, and so that it can be tested without a server.
//!
//! Differences from the original pgcopydb, on purpose:
//! - the number of parts comes from heap plus TOAST bytes for both methods,
//!   so a TOAST-heavy table without an integer key is still split;
//! - integer ranges are half-open and the first and last are unbounded, so
//!   the parts cover every possible key value, not just the sampled min..max;
//! - a NULL part exists only when the key column can hold NULLs.

use serde::{Deserialize, Serialize};

use crate::sql::quote_ident;

/// The integer column a table is split on, with the bounds read on the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitKey {
    pub column: String,
    /// False for a PRIMARY KEY or a NOT NULL column.
    pub nullable: bool,
    /// `min(column)` and `max(column)`; `None` when the table holds no key value.
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// What the planner needs to know about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// Heap plus TOAST (`pg_table_size`): what the copy actually reads.
    pub bytes: i64,
    /// Pages of the main fork, exact (`pg_relation_size / block_size`).
    pub heap_pages: i64,
    /// First single-column PK/unique index on int2/int4/int8, PK preferred.
    pub key: Option<SplitKey>,
    /// Whether a ctid split is allowed ([`ctid_split_allowed`]).
    pub ctid_split: bool,
}

/// Whether a table's parts may be ctid (page) ranges, the one rule the
/// clone and `list table-parts`/`list schema` plan with: only for the heap
/// access method (pages mean nothing to another), only on a PostgreSQL 14
/// or later source (before 14 there is no TID range scan: every part would
/// read the whole table), and never with `--skip-split-by-ctid`.
pub fn ctid_split_allowed(source_major: u32, heap: bool, skip_split_by_ctid: bool) -> bool {
    heap && source_major >= 14 && !skip_split_by_ctid
}

/// `--split-tables-larger-than` and `--split-max-parts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSettings {
    /// 0 turns splitting off.
    pub threshold: u64,
    /// 0 means no cap.
    pub max_parts: u32,
}

impl SplitSettings {
    /// Whether a table of `bytes` is split at all (the original's rule: `>=`).
    pub fn eligible(&self, bytes: i64) -> bool {
        self.threshold > 0 && bytes >= 0 && bytes as u64 >= self.threshold
    }
}

/// Which rows one part reads. Bounds are half-open: `from` inclusive, `to`
/// exclusive, `None` unbounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartRange {
    /// The table is not split.
    Whole,
    /// `column >= from AND column < to`.
    Key {
        column: String,
        from: Option<i64>,
        to: Option<i64>,
    },
    /// `column IS NULL` (only for a nullable unique key).
    KeyIsNull { column: String },
    /// Heap pages `from .. to`, read with a TID range.
    Pages { from: u64, to: Option<u64> },
}

/// One unit of work of a split table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// 1-based.
    pub number: u32,
    pub count: u32,
    pub range: PartRange,
}

impl Part {
    /// The WHERE clause (without `WHERE`) for `COPY (SELECT ... WHERE ...)`,
    /// or `None` for a whole table.
    pub fn predicate(&self) -> Option<String> {
        match &self.range {
            PartRange::Whole => None,
            PartRange::Key { column, from, to } => {
                let col = quote_ident(column);
                Some(match (from, to) {
                    (None, None) => format!("{col} IS NOT NULL"),
                    (Some(a), None) => format!("{col} >= {a}"),
                    (None, Some(b)) => format!("{col} < {b}"),
                    (Some(a), Some(b)) => format!("{col} >= {a} AND {col} < {b}"),
                })
            }
            PartRange::KeyIsNull { column } => Some(format!("{} IS NULL", quote_ident(column))),
            PartRange::Pages { from, to } => {
                let lower = format!("ctid >= '({from},0)'::tid");
                Some(match to {
                    None => lower,
                    Some(b) if *from == 0 => format!("ctid < '({b},0)'::tid"),
                    Some(b) => format!("{lower} AND ctid < '({b},0)'::tid"),
                })
            }
        }
    }
}

/// Cut a table into parts. Always returns at least one part; a single part
/// is `Whole`.
pub fn plan_parts(table: &TableShape, settings: &SplitSettings) -> Vec<Part> {
    if !settings.eligible(table.bytes) {
        return whole();
    }
    let threshold = settings.threshold as u128;
    let wanted = (table.bytes as u128).div_ceil(threshold);
    let cap = match settings.max_parts {
        0 => u128::MAX,
        n => n as u128,
    };
    let ranges = match &table.key {
        Some(key) => key_ranges(key, wanted, cap),
        None if table.ctid_split => page_ranges(table.heap_pages, wanted.min(cap)),
        None => Vec::new(),
    };
    if ranges.len() < 2 {
        return whole();
    }
    let count = ranges.len() as u32;
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, range)| Part {
            number: i as u32 + 1,
            count,
            range,
        })
        .collect()
}

fn whole() -> Vec<Part> {
    vec![Part {
        number: 1,
        count: 1,
        range: PartRange::Whole,
    }]
}

/// Even ranges over `min..=max`, plus a NULL part when the key allows NULLs;
/// empty when fewer than two ranges make sense.
fn key_ranges(key: &SplitKey, wanted: u128, cap: u128) -> Vec<PartRange> {
    let (Some(min), Some(max)) = (key.min, key.max) else {
        return Vec::new();
    };
    let null_part = u128::from(key.nullable);
    let span = (max as i128 - min as i128 + 1).max(1) as u128;
    let n = wanted.min(cap.saturating_sub(null_part)).min(span);
    if n < 2 {
        return Vec::new();
    }
    // Boundaries in i128: min + span*i/n never overflows there and stays
    // within min..=max, so it fits back into i64.
    let bounds: Vec<i64> = (1..n)
        .map(|i| (min as i128 + (span * i / n) as i128) as i64)
        .collect();
    let mut out = Vec::with_capacity(n as usize + 1);
    for i in 0..n as usize {
        out.push(PartRange::Key {
            column: key.column.clone(),
            from: i.checked_sub(1).and_then(|b| bounds.get(b)).copied(),
            to: bounds.get(i).copied(),
        });
    }
    if key.nullable {
        out.push(PartRange::KeyIsNull {
            column: key.column.clone(),
        });
    }
    out
}

/// Contiguous page ranges of equal length; the last one is open-ended so
/// that pages added after the size was read are not lost.
fn page_ranges(heap_pages: i64, wanted: u128) -> Vec<PartRange> {
    if heap_pages <= 0 {
        return Vec::new();
    }
    let pages = heap_pages as u128;
    let n = wanted.min(pages);
    if n < 2 {
        return Vec::new();
    }
    let per = pages.div_ceil(n);
    let n = pages.div_ceil(per);
    (0..n)
        .map(|i| PartRange::Pages {
            from: (i * per) as u64,
            to: (i + 1 < n).then(|| ((i + 1) * per) as u64),
        })
        .collect()
}

/// Parse a size such as `1GB`, `500 MB`, `10kB`, `1.5G` or `4096` into
/// bytes. Units are powers of 1024, as in PostgreSQL (`kB` is 1024 bytes);
/// case and an optional `i` (`MiB`) do not matter.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let invalid = || format!("invalid size {text:?}: expected a number and a unit, like 10GB");
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(invalid());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let shift: u32 = match unit.as_str() {
        "" | "b" | "byte" | "bytes" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        "e" | "eb" | "eib" => 60,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, PB or EB)"
            ))
        }
    };
    // u64 times at most 2^60 stays far below u128::MAX: no overflow checks needed.
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let mut bytes = u128::from(whole) << shift;
    if !fraction.is_empty() {
        // Exact decimal arithmetic: digits * 2^shift / 10^len, rounded down.
        let digits = fraction.get(..18).unwrap_or(fraction);
        let numerator: u128 = digits.parse().map_err(|_| invalid())?;
        bytes += (numerator << shift) / 10u128.pow(digits.len() as u32);
    }
    u64::try_from(bytes).map_err(|_| format!("invalid size {text:?}: too large"))
}

#[cfg(test)]
#[path = "parts_tests.rs"]
mod tests;
