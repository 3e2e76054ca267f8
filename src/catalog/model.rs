//! Plain data describing the source objects the copy works on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::sql::{quote_ident, quote_qualified};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    /// The binary COPY form of this type is the same on any server of the
    /// same major version (see `catalog::columns`).
    pub binary_safe: bool,
    /// Why it is not, when it is not: shown when `--copy-format binary`
    /// falls back to text.
    #[serde(default)]
    pub binary_not_portable: Option<String>,
    /// Stored EXTENDED (`attstorage = 'x'`): a long value is compressed, or
    /// moved out of line when compression does not pay.
    #[serde(default)]
    pub extended: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `p` permanent, `u` unlogged.
    pub persistence: char,
    /// Heap plus TOAST, from `pg_table_size`.
    pub bytes: i64,
    pub estimated_rows: f64,
    /// Columns that COPY carries (generated columns are left out: the target
    /// computes them).
    pub columns: Vec<Column>,
    /// True when the table has columns but every one is generated.
    pub only_generated_columns: bool,
    pub indexes: Vec<Index>,
    /// The parts copied concurrently when the table is split; empty when it
    /// is copied whole.
    #[serde(default)]
    pub parts: Vec<super::parts::Part>,
    /// False under `exclude-table-data`: the table is created with its
    /// indexes and constraints, but no rows are copied.
    #[serde(default = "yes")]
    pub copy_data: bool,
}

fn yes() -> bool {
    true
}

impl Table {
    /// A plain table `s.t<oid>` of `bytes`, with no columns or indexes, for
    /// unit tests of the planning code.
    #[cfg(test)]
    pub fn for_test(oid: u32, bytes: i64) -> Table {
        Table {
            oid,
            schema: "s".into(),
            name: format!("t{oid}"),
            persistence: 'p',
            bytes,
            estimated_rows: 0.0,
            columns: Vec::new(),
            only_generated_columns: false,
            indexes: Vec::new(),
            parts: Vec::new(),
            copy_data: true,
        }
    }

    /// The table to share in the catalog, its lists without the spare room
    /// they were built with (pushed one by one, each had room for twice
    /// what it holds: megabytes over ten thousand tables).
    pub fn shared(mut self) -> Arc<Table> {
        self.columns.shrink_to_fit();
        self.indexes.shrink_to_fit();
        self.parts.shrink_to_fit();
        Arc::new(self)
    }

    pub fn qualified(&self) -> String {
        quote_qualified(&self.schema, &self.name)
    }

    /// The display name used in logs and the summary.
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `(a, b, c)`, or empty for zero-column tables (COPY then takes no list).
    pub fn column_list(&self) -> String {
        if self.columns.is_empty() {
            return String::new();
        }
        let names: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.name)).collect();
        format!("({})", names.join(", "))
    }

    pub fn binary_safe(&self) -> bool {
        self.columns.iter().all(|c| c.binary_safe)
    }
}

/// A PRIMARY KEY, UNIQUE or EXCLUDE constraint backed by an index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexConstraint {
    pub oid: u32,
    pub name: String,
    /// `p`, `u` or `x`.
    pub kind: char,
    pub deferrable: bool,
    pub deferred: bool,
    /// `pg_get_constraintdef` output.
    pub definition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub table_oid: u32,
    /// `pg_get_indexdef` output.
    pub definition: String,
    pub constraint: Option<IndexConstraint>,
    /// `ALTER TABLE ... CLUSTER ON` this index.
    #[serde(default)]
    pub clustered: bool,
    /// `ALTER TABLE ... REPLICA IDENTITY USING INDEX` this index.
    #[serde(default)]
    pub replica_identity: bool,
    /// Per-column statistics targets of an expression index, (column number, target).
    #[serde(default)]
    pub column_statistics: Vec<(i16, i32)>,
}

impl Index {
    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sequence {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

impl Sequence {
    pub fn qualified(&self) -> String {
        quote_qualified(&self.schema, &self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Catalog {
    /// Largest first. Shared: the data phase's plan, its workers and its
    /// sampler hold the same tables, not copies (ten thousand tables with
    /// their index definitions are megabytes each time).
    pub tables: Vec<Arc<Table>>,
    pub sequences: Vec<Sequence>,
    pub large_objects: Vec<u32>,
    pub encoding: String,
    /// Foreign keys between copied tables, added during the data phase.
    #[serde(default)]
    pub foreign_keys: Vec<crate::foreign_keys::ForeignKey>,
    /// Partitioned tables and their indexes, built in the data phase once
    /// their partitions are complete (empty in states of older runs, which
    /// then leave them all to post-data).
    #[serde(default)]
    pub partitioned: Vec<super::partitioned::PartitionedTable>,
    /// What `--filters` left out, kept for the restore lists of a resume.
    #[serde(default)]
    pub selection: crate::filters::Selection,
    /// The source's `default_toast_compression` (PostgreSQL 14+): how its
    /// long values are compressed unless their column says otherwise. The
    /// copy sessions compress with the same method.
    #[serde(default)]
    pub toast_compression: Option<String>,
    /// What the original's listings show and the copy does not need.
    #[serde(default)]
    pub listing_names: super::listing::ListingNames,
}

impl Catalog {
    pub fn total_bytes(&self) -> i64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }
    pub fn index_count(&self) -> usize {
        self.tables.iter().map(|t| t.indexes.len()).sum()
    }
}
