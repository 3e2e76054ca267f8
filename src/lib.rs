//! pgcopydb: copy a live PostgreSQL database onto another server.
//!
//! # The model, for a newcomer
//!
//! **A run's phases** (`clone`; the `copy`/`dump`/`restore` commands run a subset):
//! 1. Guards ([`guards`]) refuse, before any write, what would destroy data
//!    (source and target the same database, target objects a `DROP ... CASCADE`
//!    would take with it).
//! 2. One snapshot is exported on the source and held ([`snapshot`]; with
//!    `--follow` it is the replication slot's, [`stream::walsender`]); every
//!    reader imports it, `pg_dump` included.
//! 3. The catalog is read under it ([`catalog`]), filtered ([`filters`]) and
//!    recorded; `pg_dump` writes pre-data and post-data; pre-data is restored
//!    ([`schema`]).
//! 4. The data phase ([`clone`]): tables biggest first, N jobs, `TRUNCATE` +
//!    `COPY FREEZE` per table or part ([`copy`]); as a table's data lands its
//!    indexes build, constraints attach `USING INDEX`, foreign keys follow
//!    when both ends are in ([`indexes`], [`foreign_keys`]), then ANALYZE;
//!    then sequences and large objects ([`sequences`], [`blobs`]).
//! 5. Post-data is restored with what was built commented out of its list.
//! 6. With `--follow`, change data capture ([`stream`]) applies what was
//!    committed after the snapshot until the end position.
//!
//! **What is recorded where.** Everything lives in the private work directory
//! ([`workdir`]): `pgcopydb.db` (SQLite, [`workdir::state`]) holds the setup
//! that shaped the plan and the catalog as read under the snapshot (its
//! catalog store), and one progress row per unit of work (its ledger) (table, part, index, constraint, key,
//! large-object batch, step) with its state, bytes, rows and error;
//! `schema/` holds the dump and the restore lists; `cdc/` the received
//! change stream; `summary.json` the final summary. The target holds, in
//! the same commit as each applied transaction, the replication origin's
//! position.
//!
//! **How a resume decides what to redo** (`clone::resume`): the recorded
//! setup must match (same servers, same plan-shaping options); the catalog is
//! read back rather than re-read; a unit whose progress row says `done` is
//! skipped, any other is redone from its start (a table is truncated and
//! copied again in one transaction, an index is built `IF NOT EXISTS`); a
//! step recorded done is skipped. The stream resumes from the slot's
//! confirmed position and skips transactions at or below the origin's.
//!
//! **How errors map to exit codes** ([`error`]): every failure is an
//! [`error::Error`] with a kind (cannot connect, connection lost,
//! authentication, object missing, conflict, ...) and a side (source, target,
//! local). The kind decides whether a unit is retried (`is_retryable`), kind
//! and side decide the exit code (`exit_code`: 1 bad arguments, 2 bad
//! configuration, 3 bad state or interrupted, 4 a server error of neither
//! side, 6 source, 7 target, 12 internal). Failed units are kept as these
//! values, so a run exits with the code its failures share (12 when mixed).
//!
//! # Modules, in pipeline order
//! - [`conninfo`]: libpq-compatible connection strings, environment, `.pgpass`, TLS;
//!   [`connections`] opens them with errors a user can act on; [`pool`] shares
//!   them between workers; [`retry`] waits out what is retryable.
//! - [`tools`]: finding a `pg_dump`/`pg_restore` pair that fits both servers.
//! - [`guards`]: refusals checked before anything is written (same database, lost dependents).
//! - [`snapshot`]: the exported snapshot every reader shares.
//! - [`catalog`]: what the source holds (tables, indexes, constraints, sequences, large objects);
//!   [`filters`] (`--filters FILE`) decides what of it is left out.
//! - [`schema`]: `pg_dump` of pre/post-data, `pg_restore` with a filtered `--use-list`;
//!   every child process goes through `schema::child`. [`roles`]: `pg_dumpall --roles-only`.
//! - [`copy`]: streaming `COPY TO STDOUT` into `COPY FROM STDIN`, one table at a time.
//! - [`indexes`], [`foreign_keys`]: building indexes and attaching constraints as soon as
//!   a table's data is in; keys once both of their tables are.
//! - [`sequences`], [`blobs`]: sequence values and large objects.
//! - [`extensions`]: `copy extensions`, and the rows of their configuration tables.
//! - [`clone`]: the orchestration that runs all of the above concurrently.
//! - [`stream`]: change data capture after the copy (receive, store, apply).
//! - [`compare`]: proof that the target holds what the source holds.
//! - [`workdir`]: the work directory, its lock and the state in it.
//! - [`report`]: logging, live progress and the final summary.
//! - [`error`]: the error type, its kinds and the exit codes.
//! - [`interrupt`]: SIGINT/SIGTERM, and cancelling every worker at once.
//! - [`sql`]: quoting identifiers and literals; [`sync`]: lock helpers that cannot panic.
//! - [`failpoint`](mod@failpoint): named points where the crash tests stop a run (feature `failpoints`).
//! - [`cli`]: the top layer, the only one that knows clap: it turns arguments into the
//!   settings above (`CloneOptions`, `Endpoints`, a `LogLevel`) and calls them; no other
//!   module refers to it (`cli::layering` checks).

// No code path may panic on what a server, a file or the user hands us
// (tests are exempt). `clippy.toml` also disallows `tokio_postgres::Row::get`.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
// `println!` and friends panic when the reader of our output goes away
// (`| head -1`): every write to stdout/stderr goes through `report::stdout`.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod blobs;
pub mod catalog;
pub mod cli;
pub mod clone;
pub mod compare;
pub mod connections;
pub mod conninfo;
pub mod copy;
pub mod error;
pub mod extensions;
pub mod failpoint;
pub mod filters;
pub mod foreign_keys;
pub mod guards;
pub mod indexes;
pub mod interrupt;
pub mod memory;
pub mod pool;
pub mod report;
pub mod retry;
pub mod roles;
pub mod schema;
pub mod sequences;
pub mod snapshot;
pub mod sql;
pub mod stream;
pub mod sync;
pub mod tools;
pub mod workdir;
