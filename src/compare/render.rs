//! What a user reads: a table per report with every mismatch marked `!`,
//! a final line saying how many objects differ, and the JSON documents.

use comfy_table::{presets, Table as Grid};

use super::data::{DataReport, SequenceValue, Status, TableSum};
use super::schema::{Problem, SchemaDifference, SchemaReport};

/// Values longer than this (function bodies, view definitions) are shown
/// by their first differing line only.
const SHORT: usize = 100;

fn mark(status: Status) -> &'static str {
    if status.is_equal() {
        ""
    } else {
        "!"
    }
}

fn grid(header: Vec<&str>) -> Grid {
    let mut g = Grid::new();
    g.load_style(presets::ASCII_MARKDOWN);
    g.set_header(header);
    g
}

impl DataReport {
    /// The readable report: tables, sequences, large objects, final line.
    pub fn render(&self) -> String {
        let mut g = grid(vec![
            "",
            "Object",
            "Source rows",
            "Target rows",
            "Source checksum",
            "Target checksum",
            "Status",
        ]);
        for t in &self.tables {
            let (rows, sum) = match &t.target {
                Some(TableSum { rows, checksum }) => (rows.to_string(), checksum.clone()),
                None => ("-".into(), "-".into()),
            };
            g.add_row(vec![
                mark(t.status).to_string(),
                format!("table {}", t.table),
                t.source.rows.to_string(),
                rows,
                t.source.checksum.clone(),
                sum,
                t.status.label().to_string(),
            ]);
        }
        let seq = |v: SequenceValue| {
            let called = if v.is_called { " (called)" } else { "" };
            format!("{}{called}", v.last_value)
        };
        for s in &self.sequences {
            g.add_row(vec![
                mark(s.status).to_string(),
                format!("sequence {}", s.sequence),
                String::new(),
                String::new(),
                seq(s.source),
                s.target.map(seq).unwrap_or_else(|| "-".into()),
                s.status.label().to_string(),
            ]);
        }
        let lo = &self.large_objects;
        let mut lo_status = lo.status.label().to_string();
        if !lo.differing.is_empty() {
            let shown: Vec<String> = lo.differing.iter().take(10).map(u32::to_string).collect();
            let more = lo.differing.len().saturating_sub(10);
            lo_status = format!(
                "{lo_status}: oid {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        g.add_row(vec![
            mark(lo.status).to_string(),
            "large objects".to_string(),
            lo.source_count.to_string(),
            lo.target_count.to_string(),
            lo.source_checksum.clone(),
            lo.target_checksum.clone(),
            lo_status,
        ]);
        format!(
            "{g}\n{}\n",
            final_line("data", self.differences(), self.compared())
        )
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// What `compare data --json` prints: the original's array of tables
    /// (`schema`, `name`, `source`/`target{rowcount, checksum}`), each item
    /// with our keys and `"kind": "table"`; then one item per sequence and
    /// one for the large objects, told apart by their `kind`.
    pub fn to_original_json(&self) -> anyhow::Result<String> {
        let mut items = Vec::with_capacity(self.tables.len() + self.sequences.len() + 1);
        let tagged = |kind: &str, mut value: serde_json::Value| {
            if let Some(object) = value.as_object_mut() {
                object.insert("kind".into(), kind.into());
            }
            value
        };
        for t in &self.tables {
            items.push(tagged("table", serde_json::to_value(t)?));
        }
        for s in &self.sequences {
            items.push(tagged("sequence", serde_json::to_value(s)?));
        }
        items.push(tagged(
            "large objects",
            serde_json::to_value(&self.large_objects)?,
        ));
        Ok(serde_json::to_string_pretty(&items)?)
    }
}

impl SchemaReport {
    /// Counts per kind of object, then one line per difference, then the final line.
    pub fn render(&self) -> String {
        let mut g = grid(vec!["", "Kind", "Source", "Target", "Differing"]);
        for k in &self.kinds {
            let differs = k.differences > 0 || k.source != k.target;
            g.add_row(vec![
                if differs { "!" } else { "" }.to_string(),
                k.kind.clone(),
                k.source.to_string(),
                k.target.to_string(),
                k.differences.to_string(),
            ]);
        }
        let mut out = format!("{g}\n");
        for d in &self.differences {
            out.push_str(&difference_line(d));
            out.push('\n');
        }
        out.push_str(&final_line(
            "schema",
            self.differing_objects(),
            self.compared(),
        ));
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

fn final_line(what: &str, differing: usize, compared: usize) -> String {
    if differing == 0 {
        format!("compare {what}: all {compared} objects are equal")
    } else {
        format!("compare {what}: {differing} of {compared} objects differ")
    }
}

/// One precise line: what, which object, and for a changed attribute both values.
pub fn difference_line(d: &SchemaDifference) -> String {
    match &d.problem {
        Problem::MissingOnTarget => format!("! missing on target: {} {}", d.kind, d.object),
        Problem::ExtraOnTarget => format!("! extra on target: {} {}", d.kind, d.object),
        Problem::Different {
            attribute,
            source,
            target,
        } => format!(
            "! different: {} {} {attribute}: {}",
            d.kind,
            d.object,
            describe_change(source.as_deref(), target.as_deref())
        ),
    }
}

fn describe_change(source: Option<&str>, target: Option<&str>) -> String {
    let show = |v: Option<&str>| match v {
        None => "(none)".to_string(),
        Some(v) => format!("{v:?}"),
    };
    match (source, target) {
        (Some(s), Some(t)) if s.len() > SHORT || t.len() > SHORT || s.contains('\n') => {
            let (line, sl, tl) = first_differing_line(s, t);
            format!("line {line}: source {sl:?}, target {tl:?}")
        }
        _ => format!("source {}, target {}", show(source), show(target)),
    }
}

/// The 1-based number and both texts of the first line that differs.
fn first_differing_line<'a>(s: &'a str, t: &'a str) -> (usize, &'a str, &'a str) {
    let (mut sl, mut tl) = (s.lines(), t.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (sl.next(), tl.next()) {
            (Some(a), Some(b)) if a == b => continue,
            // Untrimmed: a change of indentation is a change too.
            (a, b) => return (n, clip(a.unwrap_or("")), clip(b.unwrap_or(""))),
        }
    }
}

/// At most `SHORT` characters of a line, cut on a character boundary.
fn clip(line: &str) -> &str {
    match line.char_indices().nth(SHORT) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_show_the_first_differing_line() {
        let s = "CREATE FUNCTION f()\n BEGIN\n  RETURN 1;\n END";
        let t = "CREATE FUNCTION f()\n BEGIN\n  RETURN 2;\n END";
        assert_eq!(
            describe_change(Some(s), Some(t)),
            "line 3: source \"  RETURN 1;\", target \"  RETURN 2;\""
        );
        assert_eq!(
            describe_change(Some("1"), None),
            "source \"1\", target (none)"
        );
    }
}
