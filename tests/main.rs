//! The integration tests, in one test binary: one module per file of tests/,
//! all sharing `support` (throwaway PostgreSQL clusters, the pgcopydb binary,
//! the independent verifier). One binary links once instead of once per file,
//! and support code unused by every test is reported as dead code.
//!
//! A new test file needs its `mod` line here (Cargo.toml has `autotests =
//! false`). Run one file's tests with `cargo nextest run -E 'test(/^clone::/)'`.

mod support;

mod all_databases;
mod bad_input;
mod clone;
mod compare;
mod compat;
mod connections;
mod conninfo_connect;
mod cross_version;
mod exit_codes;
mod extensions;
mod failures;
mod filter_matrix;
mod filters;
mod fk_excluded_data;
mod index_sessions;
mod large_objects;
mod large_values;
mod list;
mod package;
mod partitioned_target;
mod partitions;
mod progress_metrics;
mod restore_errors;
mod resume;
mod row_counts;
mod safety;
mod schema_roundtrip;
mod secrets;
mod small_tables;
mod source_changes;
mod split;
mod steps;
mod stream_apply;
mod stream_apply_bench;
mod stream_crash;
mod stream_decode;
mod stream_follow;
mod stream_memory;
mod stream_semantics;
mod stream_slot_records;
mod stream_walsender;
mod support_selftest;
mod toast;
mod types;
mod workdir;
