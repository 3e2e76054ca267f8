//! A replication slot pgcopydb creates is known to its work directory from
//! before it exists: a run SIGKILLed between the slot's creation and the
//! moment the state records it (failpoint `stream-slot-created`), and a
//! `snapshot --follow` that holds its slot only in `snapshot.slot`, both
//! leave `stream cleanup` (and `--restart`) able to drop it; a slot the
//! user made is never dropped. Private servers: slots are server-wide.

#![allow(clippy::disallowed_methods)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::support::failpoints::Failpoints;
use crate::support::follow::{command, logical_cluster, wait_for};
use crate::support::{assert_success, output_text, pgbin, pgcopydb, workdir, Cluster};

const DB: &str = "app";

fn source_and_target() -> (Cluster, Cluster) {
    let src = logical_cluster(&pgbin());
    let tgt = Cluster::start();
    for c in [&src, &tgt] {
        c.create_db(DB);
        c.psql(DB, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    }
    (src, tgt)
}

fn slots(src: &Cluster) -> String {
    src.psql(
        DB,
        "SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots",
    )
}

fn publications(src: &Cluster) -> String {
    src.psql(
        DB,
        "SELECT coalesce(string_agg(pubname, ',' ORDER BY pubname), '') FROM pg_publication",
    )
}

fn assert_killed(out: &Output, what: &str) {
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{what} should die at the failpoint:\n{}",
        output_text(out)
    );
}

/// `sub` run with the slot's creation crashing the process.
fn killed_after_creating_the_slot(sub: &[&str], src: &Cluster, tgt: &Cluster, dir: &Path) {
    let points = Failpoints::new();
    let mut cmd = command(sub, src, tgt, DB, dir);
    points.arm(&mut cmd, "stream-slot-created=crash");
    let out = cmd.output().expect("run pgcopydb");
    assert_killed(&out, &format!("{sub:?}"));
    assert_eq!(
        points.expect_reached("stream-slot-created", &out),
        "pgcopydb"
    );
    assert_eq!(
        slots(src),
        "pgcopydb",
        "the crash happens after the creation"
    );
}

fn setup_restart(src: &Cluster, tgt: &Cluster, dir: &Path) {
    let out = command(&["stream", "setup", "--restart"], src, tgt, DB, dir)
        .output()
        .expect("run stream setup --restart");
    assert_success(&out, "stream setup --restart");
}

fn cleanup(src: &Cluster, tgt: &Cluster, dir: &Path) {
    let out = command(&["stream", "cleanup"], src, tgt, DB, dir)
        .output()
        .expect("run stream cleanup");
    assert_success(&out, "stream cleanup");
}

#[test]
fn a_setup_killed_before_recording_its_slot_leaves_nothing_after_restart_and_cleanup() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    killed_after_creating_the_slot(&["stream", "setup"], &src, &tgt, dir.path());
    // --restart drops the leaked slot and makes the one it records.
    setup_restart(&src, &tgt, dir.path());
    assert_eq!(slots(&src), "pgcopydb");
    killed_after_creating_the_slot(&["stream", "setup", "--restart"], &src, &tgt, dir.path());
    cleanup(&src, &tgt, dir.path());
    assert_eq!(slots(&src), "", "stream cleanup drops the slot it made");
    assert_eq!(publications(&src), "", "and the publication made with it");

    // A slot of that name that the user made: refused, and left alone.
    src.psql(
        DB,
        "SELECT pg_create_logical_replication_slot('pgcopydb', 'pgoutput')",
    );
    let out = command(&["stream", "setup"], &src, &tgt, DB, dir.path())
        .output()
        .expect("run stream setup");
    assert!(!out.status.success(), "{}", output_text(&out));
    cleanup(&src, &tgt, dir.path());
    assert_eq!(slots(&src), "pgcopydb", "a user's slot is never dropped");
}

#[test]
fn a_clone_follow_killed_before_recording_its_slot_leaves_nothing_after_cleanup() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    killed_after_creating_the_slot(&["clone", "--follow"], &src, &tgt, dir.path());
    cleanup(&src, &tgt, dir.path());
    assert_eq!(slots(&src), "");
    assert_eq!(publications(&src), "");
}

#[test]
fn the_slot_of_a_snapshot_follow_is_dropped_by_cleanup() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    let mut holder = pgcopydb()
        .args(["snapshot", "--follow", "--source", &src.uri(DB), "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start snapshot --follow");
    // The snapshot's id is written once the slot is created and recorded.
    wait_for("the snapshot is held", &mut holder, || {
        dir.path().join("snapshot").exists()
    });
    let out = command(&["stream", "cleanup"], &src, &tgt, DB, dir.path())
        .output()
        .expect("run stream cleanup");
    assert!(
        !out.status.success() && output_text(&out).contains("snapshot --follow"),
        "a held slot is refused, saying by what:\n{}",
        output_text(&out)
    );
    // Killed: its walsender may still hold the slot when cleanup starts.
    holder.kill().expect("kill snapshot --follow");
    holder.wait().expect("wait for snapshot --follow");
    cleanup(&src, &tgt, dir.path());
    assert_eq!(
        slots(&src),
        "",
        "the slot snapshot --follow made is dropped"
    );
    assert_eq!(publications(&src), "");
}

/// `sub` run with the publication's creation crashing the process, before
/// any slot is made.
fn killed_after_creating_the_publication(sub: &[&str], src: &Cluster, tgt: &Cluster, dir: &Path) {
    let points = Failpoints::new();
    let mut cmd = command(sub, src, tgt, DB, dir);
    points.arm(&mut cmd, "stream-publication-created=crash");
    let out = cmd.output().expect("run pgcopydb");
    assert_killed(&out, &format!("{sub:?}"));
    assert_eq!(
        points.expect_reached("stream-publication-created", &out),
        "pgcopydb"
    );
    // The CREATE was answered before the point: it is committed.
    assert_eq!(publications(src), "pgcopydb");
    assert_eq!(slots(src), "");
}

/// The publication is recorded as ours before it is created, like the
/// slot: a run killed right after creating it leaves `--restart` and
/// `stream cleanup` able to drop it; a publication the user made is used
/// and never dropped.
#[test]
fn a_run_killed_after_creating_its_publication_leaves_nothing_after_cleanup() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    killed_after_creating_the_publication(&["stream", "setup"], &src, &tgt, dir.path());
    setup_restart(&src, &tgt, dir.path());
    assert_eq!(
        (slots(&src), publications(&src)),
        ("pgcopydb".into(), "pgcopydb".into())
    );
    cleanup(&src, &tgt, dir.path());
    assert_eq!(
        (slots(&src), publications(&src)),
        (String::new(), String::new())
    );

    let dir = workdir();
    killed_after_creating_the_publication(&["clone", "--follow"], &src, &tgt, dir.path());
    cleanup(&src, &tgt, dir.path());
    assert_eq!(
        (slots(&src), publications(&src)),
        (String::new(), String::new())
    );

    // The user's publication of that name: used as it is, left alone.
    src.psql(DB, "CREATE PUBLICATION pgcopydb FOR TABLE t");
    let dir = workdir();
    let out = command(&["stream", "setup"], &src, &tgt, DB, dir.path())
        .output()
        .expect("run stream setup");
    assert_success(&out, "stream setup");
    cleanup(&src, &tgt, dir.path());
    assert_eq!(
        (slots(&src), publications(&src)),
        (String::new(), "pgcopydb".into())
    );
}

/// The slot refused after the publication was made (a slot of that name
/// made meanwhile by the user, while the run is held just after its
/// CREATE PUBLICATION): the publication, ours, is dropped with the refusal;
/// the user's slot stays.
#[test]
fn a_slot_refused_after_the_publication_was_made_leaves_no_publication() {
    let (src, tgt) = source_and_target();
    let dir = workdir();
    let points = Failpoints::new();
    let mut cmd = command(&["stream", "setup"], &src, &tgt, DB, dir.path());
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = points
        .arm(&mut cmd, "stream-publication-created=pause")
        .spawn()
        .expect("run stream setup");
    points.wait_reached("stream-publication-created", &mut child);
    src.psql(
        DB,
        "SELECT pg_create_logical_replication_slot('pgcopydb', 'pgoutput')",
    );
    points.release("stream-publication-created");
    let out = child.wait_with_output().expect("wait for stream setup");
    assert!(!out.status.success(), "{}", output_text(&out));
    assert_eq!(
        (slots(&src), publications(&src)),
        ("pgcopydb".into(), String::new())
    );
    cleanup(&src, &tgt, dir.path());
    assert_eq!(slots(&src), "pgcopydb", "a user's slot is never dropped");
}
