//! pgcopydb: copy a live PostgreSQL database onto another server.
//!
//! The pipeline, and the module that owns each step:
//! - [`conninfo`]: libpq-compatible connection strings, environment, `.pgpass`, TLS;
//!   [`connections`] opens them with errors a user can act on.
//! - [`tools`]: finding a `pg_dump`/`pg_restore` pair that fits both servers.
//! - [`snapshot`]: the exported snapshot every reader shares.
//! - [`catalog`]: what the source holds (tables, indexes, constraints, sequences, large objects);
//!   [`filters`] (`--filters FILE`) decides what of it is left out.
//! - [`schema`]: `pg_dump` of pre/post-data, `pg_restore` with a filtered `--use-list`.
//! - [`copy`]: streaming `COPY TO STDOUT` into `COPY FROM STDIN`, one table at a time.
//! - [`indexes`]: building indexes and attaching constraints as soon as a table's data is in.
//! - [`sequences`], [`blobs`]: sequence values and large objects.
//! - [`extensions`]: `copy extensions`, and the rows of their configuration tables.
//! - [`clone`]: the orchestration that runs all of the above concurrently.
//! - [`stream`]: change data capture after the copy (receive, store, apply).
//! - [`compare`]: proof that the target holds what the source holds.
//! - [`workdir`]: the work directory and its lock.
//! - [`guards`]: refusals checked before anything is written (same database, lost dependents).
//! - [`report`]: logging, live progress and the final summary.
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
