//! `--filters FILE`: which schemas, tables, table data, indexes and
//! extensions a run leaves out.
//!
//! - [`Filters`] is the parsed file and answers by name ("is this table
//!   excluded?"); an empty one includes everything.
//! - [`Selection`] is the filters resolved against the source catalog under
//!   the run's snapshot: the OIDs left out, including every object that
//!   depends on a filtered one (found through `pg_depend`), so that the
//!   catalog, the data phase and both restore lists leave out the same things.

mod depends;
mod parse;
mod pattern;
mod scope;
mod section;
mod select;
mod toc;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use pattern::{Part, Pattern};
pub use scope::FilterScope;
pub use section::Section;
pub use select::{resolve, RelName, Selection};

use crate::error::Failure;

/// The sections of a filters file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IncludeOnlySchema,
    ExcludeSchema,
    IncludeOnlyTable,
    ExcludeTable,
    ExcludeTableData,
    ExcludeIndex,
    IncludeOnlyExtension,
    ExcludeExtension,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::IncludeOnlySchema,
        Kind::ExcludeSchema,
        Kind::IncludeOnlyTable,
        Kind::ExcludeTable,
        Kind::ExcludeTableData,
        Kind::ExcludeIndex,
        Kind::IncludeOnlyExtension,
        Kind::ExcludeExtension,
    ];

    pub fn section(self) -> &'static str {
        match self {
            Kind::IncludeOnlySchema => "include-only-schema",
            Kind::ExcludeSchema => "exclude-schema",
            Kind::IncludeOnlyTable => "include-only-table",
            Kind::ExcludeTable => "exclude-table",
            Kind::ExcludeTableData => "exclude-table-data",
            Kind::ExcludeIndex => "exclude-index",
            Kind::IncludeOnlyExtension => "include-only-extension",
            Kind::ExcludeExtension => "exclude-extension",
        }
    }

    /// Name parts an entry has: schemas and extensions one, relations two.
    fn parts(self) -> usize {
        match self {
            Kind::IncludeOnlySchema
            | Kind::ExcludeSchema
            | Kind::IncludeOnlyExtension
            | Kind::ExcludeExtension => 1,
            _ => 2,
        }
    }
}

/// Relation kinds that count as tables for `include-only-table` (the
/// original counts materialized views as tables). Views and sequences are
/// not listed there: they follow the tables they depend on.
const TABLE_KINDS: &[char] = &['r', 'p', 'm', 'f'];

/// A parsed filters file.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    entries: [Section; 8],
}

impl Filters {
    /// Read and parse `path`; any problem is a configuration error (exit 2).
    pub fn load(path: &Path) -> Result<Filters, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::config(format!("cannot read filters file {}: {e}", path.display()))
        })?;
        Filters::parse(&text)
            .map_err(|e| Failure::config(format!("filters file {}: {e}", path.display())))
    }

    /// Parse the text of a filters file; the error names the line.
    pub fn parse(text: &str) -> Result<Filters, String> {
        parse::parse(text)
    }

    /// The entries of one section.
    pub fn get(&self, kind: Kind) -> &Section {
        // Kind's discriminants index the array; indexing cannot fail.
        #[allow(clippy::indexing_slicing)]
        &self.entries[kind as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Section::is_empty)
    }

    /// Everything in this schema is left out.
    pub fn schema_excluded(&self, schema: &str) -> bool {
        let only = self.get(Kind::IncludeOnlySchema);
        (!only.is_empty() && !only.matches(&[schema]))
            || self.get(Kind::ExcludeSchema).matches(&[schema])
    }

    /// The relation (of `pg_class.relkind`) is left out entirely: its
    /// definition, data and everything that depends on it.
    pub fn table_excluded(&self, schema: &str, name: &str, relkind: char) -> bool {
        if self.schema_excluded(schema) {
            return true;
        }
        let only = self.get(Kind::IncludeOnlyTable);
        if !only.is_empty() && TABLE_KINDS.contains(&relkind) && !only.matches(&[schema, name]) {
            return true;
        }
        self.get(Kind::ExcludeTable).matches(&[schema, name])
    }

    /// The table (or materialized view) is created, with its indexes and
    /// constraints, but its rows are not copied (a matview is not refreshed).
    pub fn table_data_excluded(&self, schema: &str, name: &str) -> bool {
        self.get(Kind::ExcludeTableData).matches(&[schema, name])
    }

    /// The index (and the constraint it backs) is left out.
    pub fn index_excluded(&self, schema: &str, name: &str) -> bool {
        self.get(Kind::ExcludeIndex).matches(&[schema, name])
    }

    /// The extension is not created (nor its `COMMENT ON EXTENSION`).
    pub fn extension_excluded(&self, name: &str) -> bool {
        let only = self.get(Kind::IncludeOnlyExtension);
        (!only.is_empty() && !only.matches(&[name]))
            || self.get(Kind::ExcludeExtension).matches(&[name])
    }

    /// A canonical one-line form, recorded in the run's setup so that a
    /// resume with other filters is refused. Empty when there are none. A
    /// section of many entries shows their count and a digest of them, so
    /// that the line stays short.
    pub fn describe(&self) -> String {
        Kind::ALL
            .iter()
            .filter(|k| !self.get(**k).is_empty())
            .map(|k| {
                let section = self.get(*k);
                let shown = if section.len() <= LISTED {
                    section.texts().collect::<Vec<_>>().join(", ")
                } else {
                    format!(
                        "{} entries, digest {:016x}",
                        section.len(),
                        digest(section.texts())
                    )
                };
                format!("[{}] {shown}", k.section())
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Entries that match nothing on the source, as `[section] entry`: the
    /// first `limit` of them, and how many there are in all.
    pub fn unmatched(&self, source: &SourceNames, limit: usize) -> (Vec<String>, usize) {
        let (schemas, extensions) = (one(&source.schemas), one(&source.extensions));
        let (relations, indexes) = (two(&source.relations), two(&source.indexes));
        let mut shown = Vec::new();
        let mut total = 0;
        for kind in Kind::ALL {
            let names = match kind {
                Kind::IncludeOnlySchema | Kind::ExcludeSchema => &schemas,
                Kind::IncludeOnlyExtension | Kind::ExcludeExtension => &extensions,
                Kind::ExcludeIndex => &indexes,
                _ => &relations,
            };
            for text in self.get(kind).unmatched(names) {
                if shown.len() < limit {
                    shown.push(format!("[{}] {text}", kind.section()));
                }
                total += 1;
            }
        }
        (shown, total)
    }
}

fn one(names: &[String]) -> Vec<Vec<&str>> {
    names.iter().map(|s| vec![s.as_str()]).collect()
}

fn two(names: &[(String, String)]) -> Vec<Vec<&str>> {
    names
        .iter()
        .map(|(s, n)| vec![s.as_str(), n.as_str()])
        .collect()
}

/// `text`, cut to at most 1,000 bytes (at a character boundary) with a
/// mark saying so: a warning stays one readable line whatever the names.
pub fn cap(text: &str) -> String {
    const MAX: usize = 1000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

/// Sections of up to this many entries are listed in full by `describe`.
const LISTED: usize = 20;

/// FNV-1a over the entries: stable across builds, unlike `std`'s hasher.
fn digest(texts: impl Iterator<Item = String>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in texts {
        for b in t.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Names found on the source, to tell which filter entries match nothing.
#[derive(Debug, Default)]
pub struct SourceNames {
    pub schemas: Vec<String>,
    pub relations: Vec<(String, String)>,
    pub indexes: Vec<(String, String)>,
    pub extensions: Vec<String>,
}
