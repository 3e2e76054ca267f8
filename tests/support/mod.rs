//! Shared support for the integration tests: throwaway PostgreSQL clusters
//! ([`cluster`]), the `pgcopydb` binary with a clean environment ([`runner`]),
//! what the tests load ([`fixtures`]), and (in [`verify`]) an independent check
//! that a target database equals its source.
//!
//! Tests that need no server of their own run on servers shared by the whole
//! run, in databases of their own ([`shared`]).
//!
//! tests/main.rs declares it once for every test module. Everything here is synchronous
//! std code: servers are driven with `initdb`, `pg_ctl` and `psql`.
//!
//! When the tests run as root, every server program runs as the `postgres` user
//! (PostgreSQL refuses to run as root) and the temporary directories are handed to
//! that user.

pub mod cluster;
pub mod failpoints;
pub mod fixtures;
pub mod follow;
pub mod hold;
pub mod pgbouncer;
pub mod runner;
pub mod shared;
pub mod ssl;
pub mod verify;

// The names the test modules use, from one place.
pub use cluster::{free_port, pg_client, pgbin, running_as_root, Cluster};
pub use fixtures::{fixture, pagila_or_skip, source_and_target, SIZES_FIXTURE};
pub use runner::{
    assert_fails, assert_success, clone_all_databases, clone_between, list_progress, output_text,
    pgcopydb, resume_between, try_list_progress, wait_until, workdir,
};
pub use shared::shared_source_and_target;
