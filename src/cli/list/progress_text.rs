//! The original pgcopydb's `list progress` text: counts of tables and
//! indexes (total, in progress, done) and the bytes, in its fixed-width
//! columns. Ours (one row per unit, then a totals line) follows it.

use super::progress_json::OriginalShape;
use super::render::pg_size_pretty;
use crate::workdir::state::ProgressRow;

/// `planned_bytes`: the size of the tables the run copies.
pub fn counts_table(shape: &OriginalShape, rows: &[ProgressRow], planned_bytes: i64) -> String {
    let line =
        |a: &str, b: &str, c: &str, d: &str| format!("{a:>12} | {b:>12} | {c:>12} | {d:>12}\n");
    let dashes = "-".repeat(12);
    let bytes = |state: &str| -> i64 {
        rows.iter()
            .filter(|r| r.state == state && matches!(r.kind.as_str(), "table" | "table part"))
            .map(|r| r.bytes)
            .sum()
    };
    let mut out = line("", "Total Count", "In Progress", "Done");
    out.push_str(&format!("{dashes}-+-{dashes}-+-{dashes}-+-{dashes}\n"));
    for (label, counts) in [("Tables", &shape.tables), ("Indexes", &shape.indexes)] {
        out.push_str(&line(
            label,
            &counts.total.to_string(),
            &counts.in_progress.len().to_string(),
            &counts.done.to_string(),
        ));
    }
    let done = bytes("done");
    out.push_str(&line(
        "Bytes",
        &pg_size_pretty(planned_bytes.max(done)),
        &pg_size_pretty(bytes("running")),
        &pg_size_pretty(done),
    ));
    out
}
