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
