//! Markdown tables as the summaries print them (`| a | b |`, a `|---|` rule
//! under the header, cells padded to their column's display width), drawn
//! as comfy-table's ASCII_MARKDOWN preset draws them. Written row by row from
//! the rows' own data: a grid of cells for ten thousand tables held tens of
//! megabytes just before the run ended.

use std::fmt::Write;

use unicode_width::UnicodeWidthStr;

/// The table of `rows`, each turned into its cells by `cells` (called twice
/// per row: once to measure, once to write), under `header`. The columns
/// numbered in `right` are aligned right, their header too. A cell with a
/// line break spans as many lines.
pub fn render<R>(
    header: &[&str],
    right: &[usize],
    rows: &[R],
    cells: impl Fn(&R) -> Vec<String>,
) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(cells(row)) {
            let widest = cell.lines().map(UnicodeWidthStr::width).max();
            *width = (*width).max(widest.unwrap_or(0));
        }
    }
    let mut out = String::new();
    write_row(&mut out, header, &widths, right);
    out.push_str("\n|");
    for w in &widths {
        out.push_str(&"-".repeat(w + 2));
        out.push('|');
    }
    for row in rows {
        out.push('\n');
        write_row(&mut out, &cells(row), &widths, right);
    }
    out
}

/// One row, without a line break after it.
fn write_row<S: AsRef<str>>(out: &mut String, cells: &[S], widths: &[usize], right: &[usize]) {
    let lines: Vec<Vec<&str>> = cells.iter().map(|c| c.as_ref().lines().collect()).collect();
    let height = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
    for line in 0..height {
        if line > 0 {
            out.push('\n');
        }
        out.push('|');
        for (i, width) in widths.iter().enumerate() {
            let text = lines.get(i).and_then(|l| l.get(line)).copied();
            let text = text.unwrap_or("");
            let pad = " ".repeat(width.saturating_sub(text.width()));
            let _ = if right.contains(&i) {
                write!(out, " {pad}{text} |")
            } else {
                write!(out, " {text}{pad} |")
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use comfy_table::{presets, CellAlignment, Table};

    use super::*;

    /// The same text as comfy-table's preset, which the summaries printed
    /// before (scripts read them).
    #[test]
    fn draws_what_comfy_table_draws() {
        let header = ["Name", "Rows", "Größe"];
        let rows = vec![
            vec!["public.t".to_string(), "10".into(), "1 MiB".into()],
            vec!["s.ünïcödé".into(), String::new(), "12.5 KiB".into()],
            vec!["two\nlines".into(), "7".into(), String::new()],
        ];
        let right = [1, 2];
        let mut grid = Table::new();
        grid.load_style(presets::ASCII_MARKDOWN);
        grid.set_header(header.to_vec());
        for r in &rows {
            grid.add_row(r.clone());
        }
        for &i in &right {
            if let Some(c) = grid.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        assert_eq!(render(&header, &right, &rows, Vec::clone), grid.to_string());
    }

    #[test]
    fn a_table_without_rows_is_its_header() {
        let rows: Vec<Vec<String>> = Vec::new();
        assert_eq!(
            render(&["a", "bb"], &[], &rows, Vec::clone),
            "| a | bb |\n|---|----|"
        );
    }
}
