//! How listings print: pretty JSON for scripts, a Markdown-style table for people.

use comfy_table::{presets, Table as Grid};

/// A table with these column headers, in the style every listing uses.
pub fn grid(header: &[&str]) -> Grid {
    let mut grid = Grid::new();
    grid.load_style(presets::ASCII_MARKDOWN);
    grid.set_header(header.to_vec());
    grid
}

pub use crate::report::stdout::print_json;

pub use crate::report::size::pg_size_pretty;

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
