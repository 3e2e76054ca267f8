//! Bad input gets one clear error line, a non-zero exit, and the source is
//! never written to.

use crate::support;

use std::process::Output;

use crate::support::{assert_fails, pgcopydb, workdir, Cluster};

fn run(args: &[&str]) -> Output {
    pgcopydb().args(args).output().expect("run pgcopydb")
}

fn clone_args<'a>(src: &'a str, tgt: &'a str, dir: &'a str) -> Vec<&'a str> {
    vec!["clone", "--source", src, "--target", tgt, "--dir", dir]
}

#[test]
fn connection_problems_are_explained() {
    let c = Cluster::shared_source();
    c.create_db("db");
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    let good = c.uri("db");

    let unreachable = "postgres://postgres:Pw-9xQz7-pgcopydbTEST@127.0.0.1:1/db";
    assert_fails(
        &run(&clone_args(unreachable, &good, d)),
        6,
        "could not connect",
    );

    let wrong_password = format!("postgres://postgres:nope@127.0.0.1:{}/db", c.port);
    assert_fails(
        &run(&clone_args(&good, &wrong_password, d)),
        7,
        "password authentication failed",
    );

    let missing_db = c.uri("nosuchdb");
    assert_fails(
        &run(&clone_args(&missing_db, &good, d)),
        6,
        "does not exist",
    );

    assert_fails(
        &run(&["clone", "--target", &good, "--dir", d]),
        1,
        "PGCOPYDB_SOURCE_PGURI",
    );
    assert_fails(
        &run(&clone_args("host=x port=notaport", &good, d)),
        1,
        "source",
    );
}

#[test]
fn invalid_option_values_are_usage_errors() {
    let out = run(&[
        "clone",
        "--table-jobs",
        "0",
        "--source",
        "x",
        "--target",
        "y",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("table-jobs"));
    let out = run(&[
        "clone",
        "--copy-format",
        "csv",
        "--source",
        "x",
        "--target",
        "y",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_pg_dump_is_reported() {
    let c = Cluster::shared_source();
    c.create_db("db");
    // Another database of the same server: one database into itself is refused.
    c.create_db("copy");
    let empty = workdir();
    let dir = workdir();
    let out = pgcopydb()
        .args(clone_args(
            &c.uri("db"),
            &c.uri("copy"),
            dir.path().to_str().unwrap(),
        ))
        .env("PGCOPYDB_PG_BINDIR", empty.path())
        .output()
        .unwrap();
    assert_fails(&out, 2, "pg_dump and pg_restore were not found");
}

#[test]
fn target_with_the_tables_is_refused_and_kept() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    for c in [&src, &tgt] {
        c.create_db("db");
        c.psql(
            "db",
            "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
        );
    }
    tgt.psql("db", "INSERT INTO t VALUES (3)");
    let dir = workdir();
    let out = run(&clone_args(
        &src.uri("db"),
        &tgt.uri("db"),
        dir.path().to_str().unwrap(),
    ));
    assert_fails(&out, 7, "--drop-if-exists");
    assert_eq!(tgt.psql("db", "SELECT count(*) FROM t"), "3");
}

#[test]
fn work_directory_in_use_is_refused() {
    let c = Cluster::shared_source();
    c.create_db("db");
    // Another database of the same server: one database into itself is refused.
    c.create_db("copy");
    let dir = workdir();
    // This test process holds the lock as a running pgcopydb would.
    let held = std::fs::File::create(dir.path().join("pgcopydb.pid")).unwrap();
    std::fs::write(
        dir.path().join("pgcopydb.pid"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    // SAFETY: flock on a file descriptor this test owns.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&held), libc::LOCK_EX) };
    assert_eq!(rc, 0);
    let out = run(&clone_args(
        &c.uri("db"),
        &c.uri("copy"),
        dir.path().to_str().unwrap(),
    ));
    assert_fails(&out, 3, "in use by another pgcopydb");
    drop(held);

    // A lock left by a dead process is taken over (pid 999999999 cannot exist).
    std::fs::write(dir.path().join("pgcopydb.pid"), "999999999\n").unwrap();
    let tgt = Cluster::shared_target();
    tgt.create_db("db");
    let out = run(&clone_args(
        &c.uri("db"),
        &tgt.uri("db"),
        dir.path().to_str().unwrap(),
    ));
    support::assert_success(&out, "pgcopydb");
}

#[test]
fn unfinished_run_needs_resume_or_restart() {
    let c = Cluster::shared_source();
    c.create_db("db");
    // Another database of the same server: one database into itself is refused.
    c.create_db("copy");
    let dir = workdir();
    // A run that wrote to the target and did not finish: a recorded state
    // saying so, without the completion marker.
    let state = rusqlite::Connection::open(dir.path().join("pgcopydb.db")).unwrap();
    state
        .execute_batch(
            "CREATE TABLE setup (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO setup VALUES ('target_written', 'yes');",
        )
        .unwrap();
    drop(state);
    let out = run(&clone_args(
        &c.uri("db"),
        &c.uri("copy"),
        dir.path().to_str().unwrap(),
    ));
    assert_fails(&out, 3, "--resume");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--restart"));
}

#[test]
fn ping_reports_versions_and_tools() {
    let c = Cluster::shared_source();
    c.create_db("db");
    let out = run(&["ping", "--source", &c.uri("db"), "--target", &c.uri("db")]);
    support::assert_success(&out, "pgcopydb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PostgreSQL 15"), "{stdout}");
    assert!(stdout.contains("pg_dump/pg_restore 15"), "{stdout}");
    assert!(!stdout.contains(Cluster::PASSWORD));
    let out = run(&["version", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pgcopydb"], env!("CARGO_PKG_VERSION"));
    // Options before the command, as scripts for the original write them.
    let out = run(&["--json", "version"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pgcopydb"], env!("CARGO_PKG_VERSION"));
    let out = run(&[
        "-v",
        "--source",
        &c.uri("db"),
        "ping",
        "--target",
        &c.uri("db"),
    ]);
    support::assert_success(&out, "pgcopydb -v --source ... ping");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PostgreSQL 15"));
}
