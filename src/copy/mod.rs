//! Table data: stream `COPY ... TO STDOUT` from the source straight into
//! `COPY ... FROM STDIN` on the target, never holding a table in memory.

pub mod counts;
pub mod link;
pub mod relay;
mod stream;
pub mod target;
pub mod tls_tap;

pub use stream::{
    copy_counted, copy_in_transaction, copy_table, unit_label, CopyFormat, CopyHow, CopyStats,
    CopyUnit, Source,
};
pub use target::{target_relations, TargetRelation};
