//! The filters file: INI sections whose entries are names (values after `=`
//! are ignored, as in the original). Written by hand rather than with an INI
//! crate because a name may hold `;`, `#`, `=` or `:` inside quotes or a
//! regex, which generic INI parsers take for comments or delimiters, and
//! because errors must name the line.

use super::pattern::{parse_name, Pattern};
use super::{Filters, Kind};

/// Parse the text of a filters file. The error names the line.
pub fn parse(text: &str) -> Result<Filters, String> {
    let mut filters = Filters::default();
    let mut current: Option<Kind> = None;
    // A byte order mark, as some editors write, is not part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |msg: String| format!("line {}: {msg}", n + 1);
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let Some(name) = section.strip_suffix(']') else {
                return Err(at(format!("section header {line:?} has no closing ]")));
            };
            let name = name.trim();
            let kind = Kind::ALL
                .iter()
                .copied()
                .find(|k| k.section() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.section()).collect();
                    at(format!(
                        "unknown section [{name}] (known: {})",
                        known.join(", ")
                    ))
                })?;
            current = Some(kind);
            continue;
        }
        let Some(kind) = current else {
            return Err(at(format!("{line:?} comes before any [section]")));
        };
        let (parts, rest) = parse_name(line).map_err(|e| at(format!("{line:?}: {e}")))?;
        let rest = rest.trim_start();
        // After the name only a value (ignored) or a comment may follow.
        if !(rest.is_empty() || rest.starts_with(['=', ':', ';', '#'])) {
            return Err(at(format!(
                "{line:?}: unexpected {rest:?} after the name (quote names holding spaces or dots)"
            )));
        }
        if parts.len() != kind.parts() {
            let shape = if kind.parts() == 1 {
                "a single name, without a schema"
            } else {
                "a schema-qualified name, schema.name"
            };
            return Err(at(format!("{line:?}: [{}] takes {shape}", kind.section())));
        }
        // `rest` is what is left of `line` after the name.
        let text = line
            .get(..line.len() - rest.len())
            .unwrap_or(line)
            .trim_end()
            .to_string();
        if let Some(section) = filters.entries.get_mut(kind as usize) {
            section.push(Pattern { text, parts });
        }
    }
    check_combinations(&filters)?;
    Ok(filters)
}

/// Sections that contradict each other, as in the original.
fn check_combinations(f: &Filters) -> Result<(), String> {
    const CONFLICTS: &[(Kind, Kind)] = &[
        (Kind::IncludeOnlyTable, Kind::ExcludeTable),
        (Kind::IncludeOnlyTable, Kind::ExcludeSchema),
        (Kind::IncludeOnlySchema, Kind::ExcludeSchema),
        (Kind::IncludeOnlyExtension, Kind::ExcludeExtension),
    ];
    for &(a, b) in CONFLICTS {
        if !f.get(a).is_empty() && !f.get(b).is_empty() {
            return Err(format!(
                "[{}] cannot be combined with [{}]: an include-only list already says \
                 everything else is left out",
                a.section(),
                b.section()
            ));
        }
    }
    Ok(())
}
