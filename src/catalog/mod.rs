//! What the source holds, read once under the run's snapshot: the tables to
//! copy (ordinary tables and leaf partitions, largest first), their columns,
//! indexes and the constraints built on them, sequences and large objects.
//!
//! [`listing`] holds the wider views `pgcopydb list` prints (databases,
//! extensions, collations, skipped relations, dependencies), and [`parts`]
//! the same-table split plan.

mod columns;
pub mod listing;
mod model;
pub mod part_bounds;
pub mod partitioned;
pub mod parts;
pub(crate) mod queries;
mod split;
mod toast;

pub use model::{Catalog, Column, Index, IndexConstraint, Sequence, Table};
pub use partitioned::{ChildIndex, ParentIndex, PartitionedTable};
pub use queries::{existing_target_tables, read_catalog, TableSizes};
pub use split::plan_splits;
pub use toast::{set_storage_sql, uncompressed_columns};
