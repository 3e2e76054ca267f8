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
mod select;
mod toc;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use pattern::{Part, Pattern};
pub use scope::FilterScope;
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
    entries: [Vec<Pattern>; 8],
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
    pub fn get(&self, kind: Kind) -> &[Pattern] {
        self.entries.get(kind as usize).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Vec::is_empty)
    }

    /// Everything in this schema is left out.
    pub fn schema_excluded(&self, schema: &str) -> bool {
        let only = self.get(Kind::IncludeOnlySchema);
        (!only.is_empty() && !only.iter().any(|p| p.matches_one(schema)))
            || self
                .get(Kind::ExcludeSchema)
                .iter()
                .any(|p| p.matches_one(schema))
    }

    /// The relation (of `pg_class.relkind`) is left out entirely: its
    /// definition, data and everything that depends on it.
    pub fn table_excluded(&self, schema: &str, name: &str, relkind: char) -> bool {
        if self.schema_excluded(schema) {
            return true;
        }
        let only = self.get(Kind::IncludeOnlyTable);
        if !only.is_empty()
            && TABLE_KINDS.contains(&relkind)
            && !only.iter().any(|p| p.matches_two(schema, name))
        {
            return true;
        }
        self.get(Kind::ExcludeTable)
            .iter()
            .any(|p| p.matches_two(schema, name))
    }

    /// The table (or materialized view) is created, with its indexes and
    /// constraints, but its rows are not copied (a matview is not refreshed).
    pub fn table_data_excluded(&self, schema: &str, name: &str) -> bool {
        self.get(Kind::ExcludeTableData)
            .iter()
            .any(|p| p.matches_two(schema, name))
    }

    /// The index (and the constraint it backs) is left out.
    pub fn index_excluded(&self, schema: &str, name: &str) -> bool {
        self.get(Kind::ExcludeIndex)
            .iter()
            .any(|p| p.matches_two(schema, name))
    }

    /// The extension is not created (nor its `COMMENT ON EXTENSION`).
    pub fn extension_excluded(&self, name: &str) -> bool {
        let only = self.get(Kind::IncludeOnlyExtension);
        (!only.is_empty() && !only.iter().any(|p| p.matches_one(name)))
            || self
                .get(Kind::ExcludeExtension)
                .iter()
                .any(|p| p.matches_one(name))
    }

    /// A canonical one-line form, recorded in the run's setup so that a
    /// resume with other filters is refused. Empty when there are none.
    pub fn describe(&self) -> String {
        Kind::ALL
            .iter()
            .filter(|k| !self.get(**k).is_empty())
            .map(|k| {
                let names: Vec<&str> = self.get(*k).iter().map(|p| p.text.as_str()).collect();
                format!("[{}] {}", k.section(), names.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Entries that match nothing on the source, as `[section] entry`.
    pub fn unmatched(&self, source: &SourceNames) -> Vec<String> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for p in self.get(kind) {
                let found = match kind {
                    Kind::IncludeOnlySchema | Kind::ExcludeSchema => {
                        source.schemas.iter().any(|s| p.matches_one(s))
                    }
                    Kind::IncludeOnlyExtension | Kind::ExcludeExtension => {
                        source.extensions.iter().any(|e| p.matches_one(e))
                    }
                    Kind::ExcludeIndex => source.indexes.iter().any(|(s, n)| p.matches_two(s, n)),
                    _ => source.relations.iter().any(|(s, n)| p.matches_two(s, n)),
                };
                if !found {
                    out.push(format!("[{}] {}", kind.section(), p.text));
                }
            }
        }
        out
    }
}

/// Names found on the source, to tell which filter entries match nothing.
#[derive(Debug, Default)]
pub struct SourceNames {
    pub schemas: Vec<String>,
    pub relations: Vec<(String, String)>,
    pub indexes: Vec<(String, String)>,
    pub extensions: Vec<String>,
}
