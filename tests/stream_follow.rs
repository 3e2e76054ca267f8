//! `clone --follow`, `follow`, `stream ...` end to end: a source with
//! `wal_level = logical` under load, the follower applying until endpos,
//! and the independent verifier finding source and target equal; SIGKILL
//! and `--resume`; each plugin; refusals.

#![allow(clippy::disallowed_methods)]

use crate::support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::failpoints::Failpoints;
use crate::support::follow::{self, applying, sentinel, wait_exit, wait_for};
use crate::support::{assert_fails, assert_success, workdir, Cluster};

const DB: &str = "app";

fn logical_cluster() -> Cluster {
    follow::logical_cluster(&support::pgbin())
}

/// Tables covering what the apply must get right: a key, TOASTed values
/// left unchanged by updates, a partitioned table, REPLICA IDENTITY FULL
/// without a key, a UNIQUE-index identity, TRUNCATE, big transactions.
const SCHEMA: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE TABLE docs (id int PRIMARY KEY, tag int NOT NULL, body text);
ALTER TABLE docs ALTER body SET STORAGE EXTERNAL;
CREATE TABLE measures (at date NOT NULL, id int NOT NULL, v int, PRIMARY KEY (at, id))
    PARTITION BY RANGE (at);
CREATE TABLE measures_2024 PARTITION OF measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE uniq (code text NOT NULL, v int);
CREATE UNIQUE INDEX uniq_code ON uniq (code);
ALTER TABLE uniq REPLICA IDENTITY USING INDEX uniq_code;
CREATE TABLE scratch (id int PRIMARY KEY, v text);
CREATE TABLE bulk (id bigint PRIMARY KEY, payload jsonb, t text);
CREATE SEQUENCE counter;
INSERT INTO accounts SELECT g, g, 'initial' FROM generate_series(1, 2000) g;
INSERT INTO docs SELECT g, 0, repeat(md5(g::text), 4000) FROM generate_series(1, 20) g;
INSERT INTO measures SELECT date '2024-06-01', g, g FROM generate_series(1, 500) g;
INSERT INTO nokey VALUES (1, 'a'), (1, 'a'), (2, 'b');
INSERT INTO uniq SELECT 'c' || g, g FROM generate_series(1, 100) g;
INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 50) g;
";

/// One round of small transactions (autocommit, one per statement).
fn small_round(i: u32) -> String {
    let base = 10_000 + i * 100;
    format!(
        "INSERT INTO accounts SELECT g, g, 'round {i}' FROM generate_series({base}, {base} + 49) g;
         UPDATE accounts SET balance = balance + 1 WHERE id % 7 = {m7};
         DELETE FROM accounts WHERE id BETWEEN {base} + 40 AND {base} + 44;
         UPDATE docs SET tag = tag + 1 WHERE id % 5 = {m5};
         INSERT INTO measures VALUES (date '2025-02-01', {i}, {i});
         UPDATE measures SET v = v + 1 WHERE id = {m500} + 1;
         UPDATE uniq SET v = v + 1 WHERE code = 'c{m100}';
         INSERT INTO nokey VALUES ({i}, 'r{i}');
         SELECT nextval('counter');",
        m7 = i % 7,
        m5 = i % 5,
        m500 = i % 500,
        m100 = i % 100 + 1,
    )
}

/// The heavy changes: a 100k-row transaction, TOASTed rows updated with the
/// long column unchanged, deletes by FULL identity, a move between
/// partitions, TRUNCATE, a key change through a unique-index identity.
const HEAVY: &str = "
BEGIN;
INSERT INTO bulk SELECT g, jsonb_build_object('g', g, 's', md5(g::text)), md5(g::text)
  FROM generate_series(1, 100000) g;
COMMIT;
UPDATE docs SET tag = tag + 100;
UPDATE nokey SET b = 'changed' WHERE a = 2;
DELETE FROM nokey WHERE a = 1 AND b = 'a';
UPDATE measures SET at = date '2025-03-01' WHERE id = 3 AND at = date '2024-06-01';
TRUNCATE scratch;
INSERT INTO scratch VALUES (1, 'after truncate');
UPDATE uniq SET code = 'renamed' WHERE code = 'c1';
DELETE FROM uniq WHERE code = 'c2';
UPDATE bulk SET t = 'updated' WHERE id % 10 = 0;
DELETE FROM bulk WHERE id % 10 = 1;
INSERT INTO docs VALUES (1000, 0, repeat('long', 50000));
";

fn source_and_target() -> (Cluster, Cluster) {
    let src = logical_cluster();
    let tgt = Cluster::start();
    src.create_db(DB);
    tgt.create_db(DB);
    src.psql(DB, SCHEMA);
    (src, tgt)
}

fn follow_command(sub: &[&str], src: &Cluster, tgt: &Cluster, dir: &Path) -> std::process::Command {
    follow::command(sub, src, tgt, DB, dir)
}

fn set_endpos_current(src: &Cluster, dir: &Path) {
    follow::set_endpos_current(src, DB, dir)
}

fn applied_transactions(dir: &Path) -> u64 {
    support::try_list_progress(dir)
        .and_then(|p| p["cdc"]["transactions"].as_u64())
        .unwrap_or(0)
}

/// Rounds of load at most: the load stops there even if `stop` is not set
/// yet, so that what the follower has to apply does not grow with how slow
/// it is (an unoptimised build fell behind the load, which then ran on until
/// the test's hang guard).
const MAX_LOAD_ROUNDS: u32 = 200;

/// Runs small rounds on the source until `stop` is set (or
/// [`MAX_LOAD_ROUNDS`] are done).
fn load_until(src: &Cluster, stop: &AtomicBool, from: u32) -> u32 {
    let mut i = from;
    while !stop.load(Ordering::SeqCst) && i < from + MAX_LOAD_ROUNDS {
        src.psql(DB, &small_round(i));
        i += 1;
    }
    i
}

fn clone_follow_under_load(plugin: &str) {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop_load = follow::StopLoad(&stop);
        let load = s.spawn(|| load_until(&src, &stop, 0));
        let mut child = follow_command(
            &["clone", "--follow", "--plugin", plugin],
            &src,
            &tgt,
            dir.path(),
        )
        .spawn()
        .expect("start clone --follow");
        wait_for(
            "the copy is done and changes are applied",
            &mut child,
            || applying(dir.path()),
        );
        src.psql(DB, HEAVY);
        wait_for("a few transactions are applied", &mut child, || {
            applied_transactions(dir.path()) > 5
        });
        stop.store(true, Ordering::SeqCst);
        let rounds = load.join().expect("load thread");
        assert!(rounds > 0);
        set_endpos_current(&src, dir.path());
        let out = wait_exit(child, dir.path());
        assert_success(&out, "clone --follow");
        let text = support::output_text(&out);
        assert!(text.contains("endpos reached"), "{text}");
    });
    if plugin == "pgoutput" {
        assert_eq!(src.psql(DB, "SELECT count(*) FROM pg_publication"), "1");
    }
    follow::cleanup_and_verify(&src, &tgt, DB, dir.path());
}

#[test]
fn clone_follow_pgoutput_under_load_ends_equal_at_endpos() {
    clone_follow_under_load("pgoutput");
}

#[test]
fn clone_follow_test_decoding_under_load_ends_equal_at_endpos() {
    clone_follow_under_load("test_decoding");
}

#[test]
fn clone_follow_wal2json_under_load_ends_equal_at_endpos() {
    clone_follow_under_load("wal2json");
}

/// SIGKILL once the follower has applied some transactions (read from
/// `list progress`), then `follow --resume`: nothing lost, nothing twice.
#[test]
fn sigkill_mid_apply_then_resume_ends_equal() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    let mut child = follow_command(&["clone", "--follow"], &src, &tgt, dir.path())
        .spawn()
        .expect("start clone --follow");
    wait_for("the copy is done", &mut child, || applying(dir.path()));
    let writer = std::thread::scope(|s| {
        let load = s.spawn(|| {
            for i in 0..60 {
                src.psql(DB, &small_round(i));
            }
            src.psql(DB, HEAVY);
        });
        wait_for("20 transactions are applied", &mut child, || {
            applied_transactions(dir.path()) >= 20
        });
        child.kill().expect("SIGKILL the follower");
        let _ = child.wait();
        load.join()
    });
    writer.expect("load thread");
    set_endpos_current(&src, dir.path());
    let out = follow_command(&["follow", "--resume"], &src, &tgt, dir.path())
        .output()
        .expect("run follow --resume");
    assert_success(&out, "follow --resume");
    follow::cleanup_and_verify(&src, &tgt, DB, dir.path());
}

/// Commit groups across a crash: a backlog of small transactions (made
/// while the copy runs, so the applier finds it stored and groups it), the
/// follower killed right after its second target commit while later ones
/// may be in flight, then `follow --resume`: each source transaction is on
/// the target once (a repeat would fail on a duplicate key or count a
/// balance twice; a loss would show in the verifier).
#[test]
fn crash_after_a_commit_group_then_resume_applies_each_transaction_once() {
    let points = Failpoints::new();
    let (src, tgt) = source_and_target();
    let dir = workdir();
    let mut cmd = follow_command(&["clone", "--follow"], &src, &tgt, dir.path());
    points.arm(&mut cmd, "stream-applied=crash@2");
    let mut child = cmd.spawn().expect("start clone --follow");
    wait_for("the slot exists", &mut child, || {
        src.psql(DB, "SELECT count(*) FROM pg_replication_slots") == "1"
    });
    let small: String = (0..300)
        .map(|i| {
            format!(
                "INSERT INTO scratch VALUES ({id}, 'tx {i}'); \
                 UPDATE accounts SET balance = balance + 1 WHERE id = {a};\n",
                id = 1000 + i,
                a = i % 50 + 1
            )
        })
        .collect();
    src.psql(DB, &small);
    points.wait_reached("stream-applied", &mut child);
    let status = child.wait().expect("wait for the crash");
    assert!(!status.success(), "the follower was to crash");
    for i in 0..3 {
        src.psql(DB, &small_round(i));
    }
    set_endpos_current(&src, dir.path());
    let out = follow_command(&["follow", "--resume"], &src, &tgt, dir.path())
        .output()
        .expect("run follow --resume");
    assert_success(&out, "follow --resume");
    follow::cleanup_and_verify(&src, &tgt, DB, dir.path());
}

#[test]
fn follow_refuses_a_source_without_logical_wal_and_a_slot_it_did_not_create() {
    let src = Cluster::start_with(&support::pgbin(), &[("wal_level", "replica")]);
    let tgt = Cluster::start();
    src.create_db(DB);
    tgt.create_db(DB);
    let dir = workdir();
    let out = follow_command(&["follow"], &src, &tgt, dir.path())
        .output()
        .expect("run follow");
    assert_fails(&out, 6, "wal_level");
    let (src, tgt) = source_and_target();
    src.psql(
        DB,
        "SELECT pg_create_logical_replication_slot('pgcopydb', 'pgoutput')",
    );
    let out = follow_command(&["follow"], &src, &tgt, dir.path())
        .output()
        .expect("run follow");
    assert_fails(&out, 6, "already exists");
}

/// `stream setup` creates the slot, the publication from the filters and
/// the origin; `sentinel get --json` has the original's keys; a publication
/// the user gives is used and never dropped.
#[test]
fn stream_setup_sentinel_and_cleanup() {
    let (src, tgt) = source_and_target();
    // The target needs the tables for nothing here: setup writes no rows.
    let dir = workdir();
    let filters = dir
        .path()
        .join("..")
        .join(format!("pgcopydb-filters-{}.ini", std::process::id()));
    std::fs::write(&filters, "[exclude-table]\npublic.scratch\n").expect("filters");
    let out = follow_command(&["stream", "setup"], &src, &tgt, dir.path())
        .arg("--filters")
        .arg(&filters)
        .output()
        .expect("run stream setup");
    let _ = std::fs::remove_file(&filters);
    assert_success(&out, "stream setup");
    let published = src.psql(
        DB,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'pgcopydb'",
    );
    assert!(
        published.contains("accounts") && !published.contains("scratch"),
        "{published}"
    );
    assert_eq!(
        src.psql(
            DB,
            "SELECT pubviaroot FROM pg_publication WHERE pubname = 'pgcopydb'"
        ),
        "t"
    );
    let s = sentinel(dir.path()).expect("sentinel");
    let mut keys: Vec<&String> = s.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "apply",
            "endpos",
            "flush_lsn",
            "replay_lsn",
            "startpos",
            "write_lsn"
        ]
    );
    assert_ne!(s["startpos"], "0/0");
    assert_eq!(
        tgt.psql(DB, "SELECT roname FROM pg_replication_origin"),
        "pgcopydb"
    );
    let out = follow_command(&["stream", "cleanup"], &src, &tgt, dir.path())
        .output()
        .expect("run stream cleanup");
    assert_success(&out, "stream cleanup");
    follow::assert_no_slot_or_publication(&src, DB);

    // A user's publication: used, kept.
    src.psql(DB, "CREATE PUBLICATION mine FOR TABLE accounts");
    let out = follow_command(
        &["stream", "setup", "--publication", "mine"],
        &src,
        &tgt,
        dir.path(),
    )
    .output()
    .expect("run stream setup");
    assert_success(&out, "stream setup --publication mine");
    let out = follow_command(&["stream", "cleanup"], &src, &tgt, dir.path())
        .output()
        .expect("run stream cleanup");
    assert_success(&out, "stream cleanup");
    assert_eq!(
        src.psql(
            DB,
            "SELECT count(*) FROM pg_publication WHERE pubname = 'mine'"
        ),
        "1"
    );
    assert_eq!(
        src.psql(DB, "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
}
