//! The semantics of a follow beyond "changes arrive": where endpos cuts a
//! transaction (the same rule for every plugin), `--not-consistent` and the
//! rows it may not find, tables whose changes cannot be located (refused
//! before anything is written), lag measured from the source's position,
//! and the step-by-step `snapshot --follow`, `clone --snapshot`, `follow`.

#![allow(clippy::disallowed_methods)]

use crate::support;

use std::process::Stdio;

use crate::support::follow::{self, lsn};
use crate::support::{
    assert_fails, assert_success, output_text, pgcopydb, verify, workdir, Cluster,
};

const PLUGINS: &[&str] = &["pgoutput", "test_decoding", "wal2json"];

fn source_and_target(db: &str) -> (Cluster, Cluster) {
    let src = follow::logical_cluster(&support::pgbin());
    let tgt = Cluster::start();
    src.create_db(db);
    tgt.create_db(db);
    (src, tgt)
}

/// The source's WAL insert position: at or after the end of every commit
/// record made so far (the test servers run `synchronous_commit = off`, so
/// `pg_current_wal_lsn()`, the write position, can still be short of the
/// last one).
fn current_lsn(src: &Cluster, db: &str) -> String {
    src.psql(db, "SELECT pg_current_wal_insert_lsn()")
}

fn ids(c: &Cluster, db: &str) -> String {
    c.psql(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t")
}

/// Endpos inside a transaction of several statements, then on the start of
/// its commit record, then on the end of it: the transaction is applied only
/// the third time, whatever the plugin (it commits where its commit record
/// ends, the position every plugin streams the commit at).
#[test]
fn endpos_inside_a_transaction_cuts_it_the_same_way_for_every_plugin() {
    let src = follow::logical_cluster(&support::pgbin());
    let tgt = Cluster::start();
    for plugin in PLUGINS {
        let db = format!("endpos_{plugin}");
        src.create_db(&db);
        tgt.create_db(&db);
        let table = "CREATE TABLE t (id int PRIMARY KEY, v text);";
        src.psql(&db, &format!("{table} CREATE EXTENSION pg_walinspect;"));
        tgt.psql(&db, table);
        let dir = workdir();
        let slot = ["--plugin", plugin, "--slot-name", &db, "--origin", &db];
        let setup = [&["stream", "setup"][..], &slot[..]].concat();
        assert_success(
            &follow::run(&setup, &src, &tgt, &db, dir.path()),
            "stream setup",
        );
        src.psql(&db, "INSERT INTO t VALUES (1, 'before')");
        let inside = src.psql(
            &db,
            "SET synchronous_commit = on;
             BEGIN;
             INSERT INTO t VALUES (2, 'straddling');
             SELECT pg_current_wal_insert_lsn();
             INSERT INTO t VALUES (3, 'straddling');
             INSERT INTO t VALUES (4, 'straddling');
             COMMIT;",
        );
        // The commit record of that transaction: where it starts and ends
        // (flushed with it: pg_walinspect reads no further).
        let commit = src.query(
            &db,
            &format!(
                "SELECT start_lsn::text, end_lsn::text FROM public.pg_get_wal_records_info('{inside}', pg_current_wal_lsn()) \
                 WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT' ORDER BY start_lsn LIMIT 1"
            ),
        );
        let (start, end) = match commit.first().map(|r| r.as_slice()) {
            Some([Some(s), Some(e)]) => (s.clone(), e.clone()),
            other => panic!("no commit record after {inside}: {other:?}"),
        };
        for (endpos, resume, expected) in [
            (&inside, false, "1"),
            (&start, true, "1"),
            (&end, true, "1,2,3,4"),
        ] {
            let mut args = [&["follow", "--endpos", endpos.as_str()][..], &slot[..]].concat();
            if resume {
                args.push("--resume");
            }
            let out = follow::run(&args, &src, &tgt, &db, dir.path());
            assert_success(&out, &format!("{plugin}: follow --endpos {endpos}"));
            assert!(output_text(&out).contains("endpos reached"));
            assert_eq!(
                ids(&tgt, &db),
                expected,
                "{plugin}: endpos {endpos} (the transaction's commit record is {start}..{end})"
            );
        }
    }
}

/// Without `--not-consistent` an UPDATE or DELETE of a row the target lacks
/// stops the follow, naming the table and key; with it, each is skipped
/// with a warning naming them, and counted in the summary.
#[test]
fn not_consistent_skips_rows_the_target_lacks_and_says_which() {
    const DB: &str = "app";
    let (src, tgt) = source_and_target(DB);
    let table = "CREATE TABLE t (id int PRIMARY KEY, v text);";
    src.psql(
        DB,
        &format!("{table} INSERT INTO t SELECT g, 'v' FROM generate_series(1, 5) g;"),
    );
    // The target misses rows 3 to 5: not a consistent copy.
    tgt.psql(
        DB,
        &format!("{table} INSERT INTO t SELECT g, 'v' FROM generate_series(1, 2) g;"),
    );
    let dir = workdir();
    assert_success(
        &follow::run(&["stream", "setup"], &src, &tgt, DB, dir.path()),
        "stream setup",
    );
    src.psql(
        DB,
        "UPDATE t SET v = 'changed' WHERE id = 4;
         DELETE FROM t WHERE id = 5;
         INSERT INTO t VALUES (6, 'new');
         UPDATE t SET v = 'changed' WHERE id = 1;",
    );
    let endpos = current_lsn(&src, DB);
    let out = follow::run(&["follow", "--endpos", &endpos], &src, &tgt, DB, dir.path());
    assert_fails(&out, 7, "(id)=(4)");
    let out = follow::run(
        &[
            "follow",
            "--resume",
            "--not-consistent",
            "--endpos",
            &endpos,
        ],
        &src,
        &tgt,
        DB,
        dir.path(),
    );
    assert_success(&out, "follow --not-consistent");
    let text = output_text(&out);
    for key in ["(id)=(4)", "(id)=(5)"] {
        assert!(
            text.lines()
                .any(|l| l.contains("WARN") && l.contains("public.t") && l.contains(key)),
            "no warning naming public.t {key}:\n{text}"
        );
    }
    assert!(
        text.contains("2 updates and deletes found no row on the target"),
        "{text}"
    );
    assert_eq!(
        tgt.psql(DB, "SELECT string_agg(id || v, ',' ORDER BY id) FROM t"),
        "1changed,2v,6new"
    );
}

/// Tables whose UPDATEs and DELETEs cannot be located (no primary key,
/// identity NOTHING) are refused in one line naming them, for every plugin,
/// with no slot, publication or origin left behind; unlogged tables (never
/// streamed) and filtered-out ones are not named.
#[test]
fn tables_without_replica_identity_are_refused_before_anything_is_written() {
    const DB: &str = "app";
    let (src, tgt) = source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE keyed (id int PRIMARY KEY);
         CREATE TABLE full_identity (a int); ALTER TABLE full_identity REPLICA IDENTITY FULL;
         CREATE TABLE nopk (a int, b text);
         CREATE TABLE nothing (id int PRIMARY KEY); ALTER TABLE nothing REPLICA IDENTITY NOTHING;
         CREATE UNLOGGED TABLE scratch (a int);",
    );
    for plugin in PLUGINS {
        let dir = workdir();
        for sub in [&["stream", "setup"][..], &["follow"][..]] {
            let args = [sub, &["--plugin", plugin][..]].concat();
            let out = follow::run(&args, &src, &tgt, DB, dir.path());
            assert_fails(&out, 6, "public.nopk (no primary key)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("public.nothing (REPLICA IDENTITY NOTHING)")
                    && stderr.contains("REPLICA IDENTITY FULL")
                    && !stderr.contains("scratch")
                    && !stderr.contains("keyed")
                    && !stderr.contains("full_identity"),
                "{plugin}: {stderr}"
            );
        }
        follow::assert_nothing_left(&src, &tgt, DB);
    }
    // Left out by the filters, or given an identity: accepted.
    let dir = workdir();
    let filters = dir.path().join("filters.ini");
    std::fs::write(&filters, "[exclude-table]\npublic.nopk\n").expect("write filters");
    src.psql(DB, "ALTER TABLE nothing REPLICA IDENTITY DEFAULT");
    let work = workdir();
    let mut cmd = follow::command(&["stream", "setup"], &src, &tgt, DB, work.path());
    let out = cmd.arg("--filters").arg(&filters).output().expect("run");
    assert_success(&out, "stream setup with the table filtered out");
    // pgoutput with a publication of the user's that leaves it out: accepted.
    src.psql(DB, "CREATE PUBLICATION mine FOR TABLE keyed");
    let own = [
        "--publication",
        "mine",
        "--slot-name",
        "mine",
        "--origin",
        "mine",
    ];
    let args = [&["stream", "setup"][..], &own[..]].concat();
    let out = follow::run(&args, &src, &tgt, DB, workdir().path());
    assert_success(&out, "stream setup with a publication that leaves it out");
}

/// Lag is measured from the source's current WAL position: following, the
/// follow is "caught up" only once everything the source wrote before is
/// applied; stopped at an endpos behind the source, it is not, and says
/// how far behind it is.
#[test]
fn lag_is_measured_from_the_source_position() {
    const DB: &str = "app";
    let (src, tgt) = source_and_target(DB);
    let table = "CREATE TABLE t (id int PRIMARY KEY, v text);";
    src.psql(DB, table);
    tgt.psql(DB, table);
    let dir = workdir();
    assert_success(
        &follow::run(&["stream", "setup"], &src, &tgt, DB, dir.path()),
        "stream setup",
    );
    src.psql(
        DB,
        "INSERT INTO t SELECT g, 'first' FROM generate_series(1, 2000) g",
    );
    let written = lsn(&current_lsn(&src, DB));
    let mut child = follow::command(&["follow"], &src, &tgt, DB, dir.path())
        .spawn()
        .expect("start follow");
    // The report that said "caught up" is the one checked: a later one may
    // be behind again (autovacuum or a checkpoint writes WAL on the source).
    let mut caught_up = None;
    follow::wait_for("caught up", &mut child, || {
        caught_up = follow::progress(dir.path()).filter(|c| c["caught_up"] == true);
        caught_up.is_some()
    });
    let cdc = caught_up.expect("list progress");
    assert_eq!(tgt.psql(DB, "SELECT count(*) FROM t"), "2000", "{cdc}");
    assert!(
        lsn(cdc["source_lsn"].as_str().unwrap_or("0/0")) >= written,
        "{cdc}"
    );
    assert_eq!(cdc["lag_bytes"], 0, "{cdc}");
    follow::set_endpos_current(&src, DB, dir.path());
    assert_success(&follow::wait_exit(child, dir.path()), "follow");

    // Stopped at an endpos the source has long passed: behind, and by how much.
    src.psql(DB, "INSERT INTO t VALUES (5000, 'applied')");
    let endpos = current_lsn(&src, DB);
    src.psql(
        DB,
        "INSERT INTO t SELECT g, 'after endpos' FROM generate_series(6000, 8000) g",
    );
    let ahead = lsn(&current_lsn(&src, DB));
    let out = follow::run(
        &["follow", "--resume", "--endpos", &endpos],
        &src,
        &tgt,
        DB,
        dir.path(),
    );
    assert_success(&out, "follow --endpos");
    let text = output_text(&out);
    assert!(text.contains("bytes behind"), "{text}");
    assert_eq!(tgt.psql(DB, "SELECT count(*) FROM t"), "2001");
    let cdc = follow::progress(dir.path()).expect("list progress");
    assert_eq!(cdc["caught_up"], false, "{cdc}");
    assert!(
        lsn(cdc["source_lsn"].as_str().unwrap_or("0/0")) >= ahead,
        "{cdc}"
    );
    let applied = lsn(cdc["applied_lsn"].as_str().unwrap_or("0/0"));
    assert!(
        cdc["lag_bytes"].as_u64().unwrap_or(0) >= ahead - applied,
        "{cdc}"
    );
}

/// The original's step by step: `snapshot --follow` creates the slot and
/// holds its snapshot, `clone --snapshot` copies with it, and `follow` on
/// the same directory (no `--resume`) applies what came after, from the
/// slot's start: source and target end equal.
#[test]
fn snapshot_follow_then_clone_then_follow_without_resume() {
    const DB: &str = "app";
    let (src, tgt) = source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g;",
    );
    let dir = workdir();
    let mut snapshot = pgcopydb()
        .args(["snapshot", "--follow", "--source", &src.uri(DB), "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start snapshot --follow");
    let file = dir.path().join("snapshot");
    follow::wait_for("the snapshot is exported", &mut snapshot, || file.exists());
    let id = std::fs::read_to_string(&file).expect("read the snapshot id");
    src.psql(
        DB,
        "INSERT INTO t SELECT g, 'during the copy' FROM generate_series(101, 200) g;
         UPDATE t SET v = 'updated' WHERE id <= 10;",
    );
    let out = follow::run(&["clone", "--snapshot", &id], &src, &tgt, DB, dir.path());
    assert_success(&out, "clone --snapshot");
    assert_eq!(tgt.psql(DB, "SELECT count(*) FROM t"), "100");
    stop(&mut snapshot);
    src.psql(DB, "DELETE FROM t WHERE id > 190");
    let endpos = current_lsn(&src, DB);
    let out = follow::run(&["follow", "--endpos", &endpos], &src, &tgt, DB, dir.path());
    assert_success(&out, "follow after snapshot --follow and clone");
    verify::assert_equal(&src, DB, &tgt, DB);
    // The slot and the publication are the follow's to drop.
    let out = follow::run(&["stream", "cleanup"], &src, &tgt, DB, dir.path());
    assert_success(&out, "stream cleanup");
    follow::assert_no_slot_or_publication(&src, DB);
}

/// SIGTERM, then wait for the exit.
fn stop(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    let status = child.wait().expect("wait for snapshot");
    assert!(status.success(), "snapshot --follow ended with {status}");
}
