//! `compare data` and `compare schema`: the proof that the target holds what
//! the source holds, before a user switches over.
//!
//! - [`data`]: per table, row count and an order-independent checksum of the
//!   contents, computed on both sides at once; sequences and large objects.
//! - [`schema`]: one normalised set of catalog facts per side, diffed.
//! - [`render`]: the readable tables and the JSON documents.
//!
//! Both read each side inside one REPEATABLE READ READ ONLY snapshot, so a
//! busy server still gives one coherent answer. Any difference is an error
//! (exit code 12): the original pgcopydb exits 0 there, which makes its
//! compare useless in scripts.

mod checksum;
mod data;
mod render;
mod schema;
mod schema_facts;
mod scope;

pub use data::{
    compare_data, DataReport, LargeObjectCheck, SequenceCheck, SequenceValue, Status, TableCheck,
    TableSum,
};
pub use schema::{
    compare_schema, KindCount, Problem, SchemaDifference, SchemaOptions, SchemaReport,
};

use crate::error::Failure;

/// The error a compare ends with when the two sides differ.
pub fn differences_failure(what: &str, differing: usize, compared: usize) -> Failure {
    Failure::differs(format!(
        "compare {what}: {differing} of {compared} objects differ between source and target"
    ))
}
