//! Refusals that protect data, checked before a command writes anything to
//! the target: a source and target that are the same database (or, for
//! `--all-databases`, the same instance), and `--drop-if-exists` drops that
//! would cascade into target objects the run does not recreate.

mod drop_dependents;
mod same_database;

pub use drop_dependents::{refuse_lost_dependents, DroppedTables};
pub use same_database::{
    database_identity, refuse_recorded_source, refuse_same_database, refuse_same_instance,
};
