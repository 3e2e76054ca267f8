//! pgcopydb: copy a live PostgreSQL database onto another server.
//!
//! The pipeline, and the module that owns each step:
//! - [`conninfo`]: libpq-compatible connection strings, environment, `.pgpass`, TLS.
//! - [`tools`]: finding a `pg_dump`/`pg_restore` pair that fits both servers.
//! - [`snapshot`]: the exported snapshot every reader shares.
//! - [`catalog`]: what the source holds (tables, indexes, constraints, sequences, large objects).
//! - [`schema`]: `pg_dump` of pre/post-data, `pg_restore` with filtered `--use-list`.
//! - [`copy`]: streaming `COPY TO STDOUT` into `COPY FROM STDIN`, one table or part at a time.
//! - [`indexes`]: building indexes and attaching constraints as soon as a table's data is in.
//! - [`sequences`], [`blobs`]: sequence values and large objects.
//! - [`clone`]: the orchestration that runs all of the above concurrently.
//! - [`report`]: live progress and the final summary.

pub mod conninfo;
pub mod error;
