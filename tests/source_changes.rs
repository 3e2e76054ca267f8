//! Objects of a live source that vanish or change between the catalog read
//! and their copy: the unit fails with a message naming the table, the rest
//! of the clone goes on, the run exits non-zero (no panic), and `--resume`
//! reports the table again.
//!
//! The moment is chosen by state, not time: on the target, a row trigger on
//! `big` waits for an advisory lock the test holds, so the only copy worker
//! (`--table-jobs 1`, `big` first as the largest) is held inside the COPY of
//! `big` while the test changes the source; releasing the lock lets it go on.

use crate::support;

use std::io::Write;
use std::process::Stdio;

use crate::support::hold::{self, HeldLock};
use crate::support::{pgcopydb, verify, wait_until, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE small (id int PRIMARY KEY, v text);
INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
CREATE TABLE other (id int PRIMARY KEY, v text, gone text);
INSERT INTO other SELECT g, md5(g::text), 'x' FROM generate_series(1, 50) g;
";

/// Run a clone held inside the COPY of `big`; `change` alters the source
/// then; returns the clone's output once the lock is released.
fn clone_changing_source(
    src: &Cluster,
    tgt: &Cluster,
    dir: &std::path::Path,
    change: &str,
) -> std::process::Output {
    let lock = HeldLock::take(tgt, "dst");
    let child = pgcopydb()
        .args(["clone", "--table-jobs", "1", "--source", &src.uri("src")])
        .args(["--target", &tgt.uri("dst")])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgcopydb");
    wait_until("the COPY into big waiting on the test's lock", || {
        hold::copy_waiting(tgt, "dst", "big")
    });
    src.psql("src", change);
    drop(lock);
    child.wait_with_output().expect("wait for pgcopydb")
}

fn servers() -> (Cluster, Cluster) {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", SOURCE);
    tgt.create_db("dst");
    hold::install(&tgt, "dst", "big");
    (src, tgt)
}

/// The clone failed cleanly (not a panic), naming `table`.
fn assert_failed_naming(out: &std::process::Output, table: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} succeeded:\n{stderr}");
    assert_ne!(out.status.code(), Some(101), "{what} panicked:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    assert!(stderr.contains(table), "{what} names {table}:\n{stderr}");
}

#[test]
fn a_table_dropped_mid_run_fails_alone_and_resume_reports_it() {
    let (src, tgt) = servers();
    let dir = workdir();
    let out = clone_changing_source(&src, &tgt, dir.path(), "DROP TABLE small");
    assert_failed_naming(&out, "public.small", "clone");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no longer on the source"), "{stderr}");
    // The worker went on with a new source reader after the failure.
    assert_eq!(tgt.psql("dst", "SELECT count(*) FROM other"), "50");
    hold::uninstall(&tgt, "dst", "big");

    // The table is still missing: a resume says so again, and still fails.
    let out = support::resume_between((&src, "src"), (&tgt, "dst"), dir.path());
    assert_failed_naming(&out, "public.small", "clone --resume");

    // Every other table is in: without the target's leftover empty copy of
    // the dropped table, both databases are equal.
    tgt.psql("dst", "DROP TABLE small");
    verify::assert_equal(&src, "src", &tgt, "dst");
}

#[test]
fn a_table_renamed_or_a_column_dropped_mid_run_fails_naming_it() {
    let (src, tgt) = servers();
    let dir = workdir();
    let out = clone_changing_source(
        &src,
        &tgt,
        dir.path(),
        "ALTER TABLE small RENAME TO smaller; ALTER TABLE other DROP COLUMN gone;",
    );
    assert_failed_naming(&out, "public.small", "clone");
    assert_failed_naming(&out, "public.other", "clone");
    // big, copied before the changes could touch it, is complete.
    hold::uninstall(&tgt, "dst", "big");
    assert_eq!(tgt.psql("dst", "SELECT count(*) FROM big"), "20000");
}

/// The catalog is read under the snapshot, but `pg_get_indexdef` reads the
/// current catalog: an index dropped after the snapshot was exported has no
/// definition. The run fails naming it (no panic).
#[test]
fn an_index_dropped_after_the_snapshot_is_named() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", SOURCE);
    src.psql("src", "CREATE INDEX big_v ON big (v)");
    tgt.create_db("dst");
    // The test's own session exports the snapshot and holds it.
    let mut holder = src
        .client("psql")
        .args(["-X", "-q", "-A", "-t", "-d", &src.db_name("src")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start psql");
    let stdin = holder.stdin.as_mut().expect("psql stdin");
    writeln!(
        stdin,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_export_snapshot();"
    )
    .expect("write to psql");
    stdin.flush().expect("flush psql");
    let mut line = String::new();
    let stdout = holder.stdout.as_mut().expect("psql stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("read the snapshot id");
    let snapshot = line.trim().to_string();
    assert!(!snapshot.is_empty(), "no snapshot exported");

    src.psql("src", "DROP INDEX big_v");
    let dir = workdir();
    let out = support::clone_between(
        (&src, "src"),
        (&tgt, "dst"),
        dir.path(),
        &["--snapshot", &snapshot],
    );
    drop(holder.stdin.take());
    let _ = holder.wait();
    assert_failed_naming(&out, "big_v", "clone");
}
