//! Change data capture: everything committed on the source after the clone's
//! snapshot, streamed, stored durably in the work directory and applied to
//! the target once, in commit order (`clone --follow`, `follow`, `stream`).
//!
//! The pipeline, and the module that owns each step:
//! - [`lsn`]: WAL positions as PostgreSQL prints them (`16/B374D848`).
//! - `walsender`: the replication connection (`replication=database`):
//!   `CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')`, `START_REPLICATION`,
//!   standby status updates. tokio-postgres cannot speak it, so it is ours.
//! - [`decode`]: the output plugins' bytes (`pgoutput`, `test_decoding`,
//!   `wal2json`) turned into one model, [`change`].
//! - `store`: received messages appended to segment files under
//!   `<dir>/cdc/`, fsynced in groups; the slot's flush position only moves
//!   past what is durable.
//! - `apply`: one target transaction per source transaction, advancing a
//!   replication origin in the same commit, so a restart skips what is in.
//! - `sentinel`: startpos, endpos and the apply switch a user (or `clone
//!   --follow`) sets while the follower runs, and the positions it reports.
//! - `follow`: receive, store and apply run together until endpos.
//!
//! Why exactly once holds across any crash: the slot is only told "flushed"
//! for what the store has fsynced, so the source keeps whatever the store
//! may have lost; the target's origin position commits atomically with each
//! applied transaction, so the applier skips every transaction whose commit
//! LSN is at or below it, whether it comes from the store or is sent again.

pub mod apply;
pub mod change;
pub mod decode;
pub mod follow;
pub mod lsn;
pub mod preflight;
pub mod publication;
pub mod sentinel;
pub mod store;
pub mod walsender;
