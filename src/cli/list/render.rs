//! How listings print: pretty JSON for scripts, a Markdown-style table for people.

use comfy_table::{presets, Table as Grid};
use indicatif::HumanBytes;

/// A table with these column headers, in the style every listing uses.
pub fn grid(header: &[&str]) -> Grid {
    let mut grid = Grid::new();
    grid.load_style(presets::ASCII_MARKDOWN);
    grid.set_header(header.to_vec());
    grid
}

pub use crate::report::stdout::print_json;

pub fn bytes(n: i64) -> String {
    HumanBytes(n.max(0) as u64).to_string()
}

/// A size as PostgreSQL's `pg_size_pretty` prints it (`8192 bytes`,
/// `544 kB`, `12 MB`), the unit of the original's listings.
pub fn pg_size_pretty(n: i64) -> String {
    // Each unit is shown below its limit; a size is carried in halves of
    // the unit above bytes so that the last division rounds half away
    // from zero, as PostgreSQL does.
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n.unsigned_abs() < 10 * 1024 {
        return format!("{n} bytes");
    }
    let half_rounded = |h: i64| (h + if h < 0 { -1 } else { 1 }) / 2;
    let mut halves = n / (1 << 9);
    for unit in UNITS {
        if halves.unsigned_abs() < 20 * 1024 - 1 {
            return format!("{} {unit}", half_rounded(halves));
        }
        halves /= 1 << 10;
    }
    format!("{} EB", half_rounded(halves))
}

pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_pg_size_pretty_prints_them() {
        for (n, shown) in [
            (0, "0 bytes"),
            (8192, "8192 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (16384, "16 kB"),
            (557_056, "544 kB"),
            (20 * 1024 * 1024 - 1, "20 MB"),
            (1_253_376, "1224 kB"),
            (5 * 1024 * 1024 * 1024, "5120 MB"),
            (50 * 1024 * 1024 * 1024, "50 GB"),
        ] {
            assert_eq!(super::pg_size_pretty(n), shown, "{n}");
        }
    }
}
