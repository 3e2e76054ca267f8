//! Crash guarantees of the follower: SIGKILL at each moment of the change
//! data capture pipeline, chosen by failpoint (a message received and not
//! stored; stored; the slot told; a change of an open transaction sent to
//! the target; a transaction committed with its origin), in a small
//! transaction and in the middle of a big one, with each plugin; then
//! `follow --resume` to endpos must exit 0 with source and target equal.
//! The workload makes a loss or a double apply visible: counters
//! incremented in place, a table without any key that is only appended to,
//! deletes.

#![allow(clippy::disallowed_methods)]

use crate::support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::failpoints::Failpoints;
use crate::support::follow::{wait_exit, wait_for, HANG_GUARD};
use crate::support::{assert_success, pgcopydb, verify, workdir, Cluster};

const DB: &str = "app";

/// On both sides before the slot exists: the follower starts from equal
/// databases, so every difference at the end is its doing.
const SCHEMA: &str = "
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 10) g;
CREATE TABLE events (at int, what text);
-- No key, so a duplicate apply shows; FULL so that the follower accepts it
-- (a table without replica identity is refused before anything is written).
ALTER TABLE events REPLICA IDENTITY FULL;
CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 2000) g;
";

/// Rows of the big transaction: many messages, so that a count lands a
/// crash in its middle.
const BIG_ROWS: u32 = 20_000;

/// Small multi-statement transactions, then a big one, then small ones.
fn workload() -> String {
    let mut sql = String::new();
    for i in 0..60 {
        sql.push_str(&small_transaction(i));
    }
    sql.push_str(&format!(
        "BEGIN;
         INSERT INTO events SELECT g, 'bulk' FROM generate_series(1, {BIG_ROWS}) g;
         UPDATE counters SET n = n + 1000;
         DELETE FROM items WHERE id > 1900;
         COMMIT;\n"
    ));
    for i in 60..100 {
        sql.push_str(&small_transaction(i));
    }
    sql
}

fn small_transaction(i: u32) -> String {
    format!(
        "BEGIN;
         UPDATE counters SET n = n + 1 WHERE id = {c};
         INSERT INTO events VALUES ({i}, 'tick');
         UPDATE items SET v = v || '+' WHERE id = {u};
         DELETE FROM items WHERE id = {d};
         COMMIT;\n",
        c = i % 10 + 1,
        u = i + 500,
        d = i + 1,
    )
}

/// A source with logical WAL and a target, the same tables on both, a slot
/// set up, the workload committed, endpos at its end.
struct Follow {
    src: Cluster,
    tgt: Cluster,
    dir: tempfile::TempDir,
    points: Failpoints,
    plugin: &'static str,
}

impl Follow {
    fn new(plugin: &'static str) -> Follow {
        let src = Cluster::start_with(
            &support::pgbin(),
            &[
                ("wal_level", "logical"),
                ("max_replication_slots", "10"),
                ("max_wal_senders", "10"),
            ],
        );
        let tgt = Cluster::start();
        src.create_db(DB);
        tgt.create_db(DB);
        src.psql(DB, SCHEMA);
        tgt.psql(DB, SCHEMA);
        let run = Follow {
            src,
            tgt,
            dir: workdir(),
            points: Failpoints::new(),
            plugin,
        };
        let out = run.command(&["stream", "setup"]).output().unwrap();
        assert_success(&out, "stream setup");
        run
    }

    /// Commit the workload on the source and set endpos at its end.
    fn load_and_set_endpos(&self) {
        self.src.psql(DB, &workload());
        self.set_endpos_current();
    }

    /// Set endpos at the source's current position.
    fn set_endpos_current(&self) {
        let out = pgcopydb()
            .args(["stream", "sentinel", "set", "endpos", "--current"])
            .args(["--source", &self.src.uri(DB), "--dir"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert_success(&out, "stream sentinel set endpos --current");
    }

    fn command(&self, sub: &[&str]) -> Command {
        let mut cmd = pgcopydb();
        cmd.args(sub)
            .args(["--source", &self.src.uri(DB), "--target", &self.tgt.uri(DB)])
            .args(["--plugin", self.plugin])
            .arg("--dir")
            .arg(self.dir.path())
            .env("PGCOPYDB_RETRY_DELAY_MS", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `follow` (with `extra` arguments) armed to crash at `spec`'s point:
    /// it must die of SIGKILL there; returns the point's label.
    fn crash(&self, extra: &[&str], point: &str, at: u32) -> String {
        self.crash_with(extra, point, at, false)
    }

    /// As [`Follow::crash`], each source transaction committed alone on
    /// the target (no commit grouping): the N-th `stream-applied` is then
    /// the N-th source transaction, whatever the timing.
    fn crash_one_by_one(&self, extra: &[&str], point: &str, at: u32) -> String {
        self.crash_with(extra, point, at, true)
    }

    fn crash_with(&self, extra: &[&str], point: &str, at: u32, one_by_one: bool) -> String {
        let mut cmd = self.command(&["follow"]);
        cmd.args(extra);
        if one_by_one {
            cmd.env("PGCOPYDB_APPLY_GROUP_TRANSACTIONS", "1");
        }
        self.points.arm(&mut cmd, &format!("{point}=crash@{at}"));
        let out = cmd.output().unwrap();
        let label = self.points.expect_reached(point, &out);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "follow should have died at {point}@{at}:\n{}",
            support::output_text(&out)
        );
        label
    }

    /// `follow --resume` to endpos: exit 0, endpos reached, source = target.
    fn resume_to_end(&self) -> Output {
        let started = Instant::now();
        let out = self.command(&["follow", "--resume"]).output().unwrap();
        let took = started.elapsed();
        assert_success(&out, "follow --resume");
        let text = support::output_text(&out);
        // The cost of a crash, for the record (`--no-capture` shows it).
        eprintln!(
            "follow --resume took {took:?}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(text.contains("endpos reached"), "{text}");
        // Cleanup drops the publication (so that the schemas compare equal),
        // the slot and the origin.
        let cleanup = self.command(&["stream", "cleanup"]).output().unwrap();
        assert_success(&cleanup, "stream cleanup");
        verify::assert_equal(&self.src, DB, &self.tgt, DB);
        out
    }

    /// The target origin's position (what is committed there).
    fn origin_position(&self) -> u64 {
        lsn(&self.tgt.psql(
            DB,
            "SELECT coalesce(pg_replication_origin_progress('pgcopydb', false), '0/0')",
        ))
    }

    /// Read once the slot's walsender has ended: a status update the
    /// follower sent just before dying is still in that walsender's socket
    /// until it reads up to the end of the stream, then exits.
    fn confirmed_flush(&self) -> u64 {
        let start = Instant::now();
        while self.src.psql(
            DB,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgcopydb' AND active",
        ) != "0"
        {
            assert!(start.elapsed() < HANG_GUARD, "the slot stayed active");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.confirmed_flush_now()
    }

    /// The slot's confirmed position as the server shows it now.
    fn confirmed_flush_now(&self) -> u64 {
        lsn(&self.src.psql(
            DB,
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'pgcopydb'",
        ))
    }
}

fn lsn(text: &str) -> u64 {
    let (hi, lo) = text.trim().split_once('/').expect("an LSN");
    (u64::from_str_radix(hi, 16).expect("hex") << 32) | u64::from_str_radix(lo, 16).expect("hex")
}

/// Crash at `point`'s `at`-th hit with the whole workload waiting in the
/// slot, then resume; returns the run and the point's label.
fn crash_then_resume(plugin: &'static str, point: &str, at: u32) -> (Follow, String) {
    let run = Follow::new(plugin);
    run.load_and_set_endpos();
    let label = run.crash(&[], point, at);
    run.resume_to_end();
    (run, label)
}

#[test]
fn crash_at_the_first_message_received() {
    crash_then_resume("pgoutput", "stream-received", 1);
}

/// Killed while the big transaction is being received: its head is in
/// the store, unfinished; the resume cuts it off and receives it whole.
#[test]
fn crash_while_a_big_transaction_is_received() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    // The 60 small transactions are ~7 messages each: this is well inside
    // the big one.
    let label = run.crash(&[], "stream-received", 60 * 7 + BIG_ROWS / 2);
    assert!(lsn(&label) > 0);
    // Nothing of the big transaction is committed on the target.
    assert_eq!(
        run.tgt
            .psql(DB, "SELECT count(*) FROM events WHERE what = 'bulk'"),
        "0"
    );
    run.resume_to_end();
}

#[test]
fn crash_after_an_fsync_of_the_store() {
    crash_then_resume("pgoutput", "stream-stored", 2);
}

/// The slot is told the store has the changes: the source no longer sends
/// them, the resume must take them from the store.
///
/// The follower is paused once it has sent the status update and killed
/// only when the slot shows it: a walsender whose client died may exit on
/// its next failed write without reading the update the client sent last
/// (so a kill right after the send may leave the slot where it was).
#[test]
fn crash_after_the_slot_is_told_what_is_stored() {
    let run = Follow::new("pgoutput");
    let start = run.confirmed_flush();
    run.load_and_set_endpos();
    let mut cmd = run.command(&["follow"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    run.points.arm(&mut cmd, "stream-flush-reported=pause");
    let mut child = cmd.spawn().unwrap();
    let label = run.points.wait_reached("stream-flush-reported", &mut child);
    let told = lsn(&label);
    let started = Instant::now();
    while run.confirmed_flush_now() < told {
        assert!(
            started.elapsed() < HANG_GUARD,
            "the slot never confirmed {label}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL the paused follower");
    child.wait().expect("wait for the follower");
    let confirmed = run.confirmed_flush();
    assert!(
        confirmed > start && confirmed <= told,
        "the slot moved from {start:X} to {confirmed:X}, the store reported {label}"
    );
    run.resume_to_end();
}

/// Killed with a multi-statement transaction half sent to the target: the
/// target rolls it back, the resume applies it once.
#[test]
fn crash_in_the_middle_of_a_small_transaction_applied() {
    let (run, label) = crash_then_resume("pgoutput", "stream-change-sent", 2);
    assert!(lsn(&label) > 0);
    drop(run);
}

/// Killed in the middle of the big transaction's rows going to the target
/// (by COPY once the run of INSERTs is long).
#[test]
fn crash_in_the_middle_of_a_big_transaction_applied() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    let label = run.crash(&[], "stream-change-sent", 60 * 4 + BIG_ROWS / 2);
    // Its commit is not on the target.
    assert!(run.origin_position() < lsn(&label));
    assert_eq!(
        run.tgt
            .psql(DB, "SELECT count(*) FROM events WHERE what = 'bulk'"),
        "0"
    );
    run.resume_to_end();
}

#[test]
fn crash_after_the_first_transaction_committed_on_the_target() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    let label = run.crash(&[], "stream-applied", 1);
    // The crash came after the commit: the origin has it.
    assert!(run.origin_position() >= lsn(&label));
    run.resume_to_end();
}

/// Killed just after the big transaction is committed on the target, with
/// later ones in flight.
#[test]
fn crash_after_the_big_transaction_committed_on_the_target() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    let label = run.crash_one_by_one(&[], "stream-applied", 61);
    assert!(run.origin_position() >= lsn(&label));
    assert_eq!(
        run.tgt
            .psql(DB, "SELECT count(*) FROM events WHERE what = 'bulk'"),
        BIG_ROWS.to_string()
    );
    run.resume_to_end();
}

/// Two crashes in a row, the second in the resumed run, before the end.
#[test]
fn crash_twice_then_resume() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    run.crash_one_by_one(&[], "stream-applied", 20);
    run.crash(&["--resume"], "stream-change-sent", 300);
    run.resume_to_end();
}

/// test_decoding's BEGIN does not say where its transaction commits: a
/// transaction half applied before the crash is only known as already in
/// (or not) at its commit.
#[test]
fn test_decoding_crash_mid_transaction_and_after_commit() {
    let run = Follow::new("test_decoding");
    run.load_and_set_endpos();
    run.crash(&[], "stream-applied", 30);
    run.crash(&["--resume"], "stream-change-sent", 3);
    run.resume_to_end();
}

#[test]
fn wal2json_crash_while_a_big_transaction_is_received() {
    let run = Follow::new("wal2json");
    run.load_and_set_endpos();
    // wal2json (format 2) sends one message per change, and a begin and a
    // commit for each transaction.
    run.crash(&[], "stream-received", 60 * 6 + BIG_ROWS / 3);
    run.resume_to_end();
}

/// A server restarted (`pg_ctl restart -m fast`) while the follower applies
/// the workload: it reconnects from what is stored and applied, goes on
/// with what comes after, and ends at endpos equal, nothing lost, nothing
/// applied twice.
/// `applied_first`: how many of the workload's 100 small transactions the
/// target shows before the restart (100: the follower is idle, caught up,
/// and next touches the target to read its origin's position).
fn restart_during_follow(applied_first: u32, restart: impl FnOnce(&Follow)) {
    let run = Follow::new("pgoutput");
    run.src.psql(DB, &workload());
    let mut child = run.command(&["follow"]).spawn().unwrap();
    wait_for("some transactions are applied", &mut child, || {
        run.tgt
            .try_psql(DB, "SELECT count(*) FROM events WHERE what = 'tick'")
            .is_ok_and(|n| n.parse::<u32>().is_ok_and(|n| n >= applied_first))
    });
    restart(&run);
    let more: String = (100..140).map(small_transaction).collect();
    run.src.psql(DB, &more);
    run.set_endpos_current();
    let out = wait_exit(child, run.dir.path());
    let text = support::output_text(&out);
    assert_success(&out, "follow through a restart");
    assert!(text.contains("reconnecting"), "{text}");
    assert!(text.contains("endpos reached"), "{text}");
    // Progress counts the whole run, across the reconnect: the 141 source
    // transactions (and endpos' own logical message, when it is one).
    let applied = support::list_progress(run.dir.path())["cdc"]["transactions"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (141..=142).contains(&applied),
        "{applied} transactions:\n{text}"
    );
    let cleanup = run.command(&["stream", "cleanup"]).output().unwrap();
    assert_success(&cleanup, "stream cleanup");
    verify::assert_equal(&run.src, DB, &run.tgt, DB);
}

#[test]
fn target_restart_during_follow_reconnects_and_ends_equal() {
    restart_during_follow(20, |run| run.tgt.restart());
}

#[test]
fn target_restart_while_the_follower_is_idle_reconnects_and_ends_equal() {
    restart_during_follow(100, |run| run.tgt.restart());
}

#[test]
fn source_restart_during_follow_reconnects_and_ends_equal() {
    restart_during_follow(20, |run| run.src.restart());
}

/// The target origin still attached to another session when the follower
/// starts (what a follow killed a moment ago leaves until the server ends
/// its session, maybe mid-commit): the follower waits and retries instead
/// of exiting, and ends at endpos equal once the origin is free.
#[test]
fn an_origin_still_in_use_is_waited_for() {
    let run = Follow::new("pgoutput");
    run.load_and_set_endpos();
    let mut holder = run
        .tgt
        .client("psql")
        .args(["-X", "-q", "-d", &run.tgt.uri(DB)])
        .env("PGAPPNAME", "origin-holder")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(
            stdin,
            "SELECT pg_replication_origin_session_setup('pgcopydb');"
        )
        .unwrap();
        stdin.flush().unwrap();
    }
    support::wait_until("the origin is held by another session", || {
        run.tgt.psql(
            DB,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'origin-holder' \
               AND state = 'idle' AND query LIKE '%origin_session_setup%'",
        ) == "1"
    });
    let log = run
        .dir
        .path()
        .join("..")
        .join(format!("pgcopydb-origin-test-{}.log", std::process::id()));
    let mut follow = run.command(&["follow"]);
    follow.stderr(std::fs::File::create(&log).unwrap());
    let mut child = follow.spawn().unwrap();
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the follower finds the origin in use", &mut child, || {
        said().contains("reconnecting")
    });
    // The holder ends its session: the origin is free.
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let out = wait_exit(child, run.dir.path());
    let text = said();
    let _ = std::fs::remove_file(&log);
    assert_success(
        &out,
        &format!("follow with its origin busy at first:\n{text}"),
    );
    assert!(text.contains("in use by another session"), "{text}");
    let cleanup = run.command(&["stream", "cleanup"]).output().unwrap();
    assert_success(&cleanup, "stream cleanup");
    verify::assert_equal(&run.src, DB, &run.tgt, DB);
}

/// A source that stops for good while the follower applies: it retries
/// (each wait doubling from PGCOPYDB_RETRY_DELAY_MS) and, after its 10
/// attempts without progress, exits with the source's code (6) saying how
/// to continue; what it applied stays applied.
#[test]
fn a_source_stopped_for_good_ends_the_follow_with_its_code_after_ten_attempts() {
    let run = Follow::new("pgoutput");
    run.src.psql(DB, &workload());
    let mut follow = run.command(&["follow"]);
    // 10 ms doubling: the ten waits add up to about 10 s.
    follow.env("PGCOPYDB_RETRY_DELAY_MS", "10");
    let mut child = follow.spawn().unwrap();
    wait_for("some transactions are applied", &mut child, || {
        run.tgt
            .try_psql(DB, "SELECT count(*) FROM events WHERE what = 'tick'")
            .is_ok_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 20))
    });
    run.src.stop();
    let out = wait_exit(child, run.dir.path());
    let text = support::output_text(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(
        text.contains("gave up after 10 attempts to reconnect") && text.contains("--resume"),
        "{text}"
    );
    let attempts = (1..=10)
        .filter(|n| text.contains(&format!("(attempt {n} of 10)")))
        .count();
    assert_eq!(attempts, 10, "each attempt is logged:\n{text}");
    assert!(!text.contains("(attempt 11 of 10)"), "{text}");
}

/// `clone --follow` killed during the copy (a table copied, not recorded):
/// the slot it made for its snapshot is recorded from the start, so
/// `stream cleanup` drops it and its publication, and `clone --follow
/// --restart` starts over instead of refusing the slot as someone else's.
#[test]
fn a_slot_made_for_a_copy_killed_mid_copy_is_dropped_by_cleanup_and_restart() {
    let src = Cluster::start_with(
        &support::pgbin(),
        &[
            ("wal_level", "logical"),
            ("max_replication_slots", "10"),
            ("max_wal_senders", "10"),
        ],
    );
    let tgt = Cluster::start();
    src.create_db(DB);
    tgt.create_db(DB);
    src.psql(DB, SCHEMA);
    let dir = workdir();
    let points = Failpoints::new();
    let clone = |extra: &[&str]| {
        let mut cmd = pgcopydb();
        cmd.args(["clone", "--follow"])
            .args(extra)
            .args(["--source", &src.uri(DB), "--target", &tgt.uri(DB)])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let slots = || src.psql(DB, "SELECT count(*) FROM pg_replication_slots");
    let publications = || src.psql(DB, "SELECT count(*) FROM pg_publication");
    let crash_mid_copy = |extra: &[&str]| {
        let mut cmd = clone(extra);
        points.arm(&mut cmd, "table-copied=crash");
        let out = cmd.output().unwrap();
        points.expect_reached("table-copied", &out);
        assert_eq!(out.status.signal(), Some(libc::SIGKILL));
        assert_eq!(slots(), "1");
    };

    crash_mid_copy(&[]);
    // A second clone --follow into that directory is refused (it holds an
    // unfinished run) after making its own slot: that one is dropped.
    let out = clone(&["--slot-name", "other"]).output().unwrap();
    support::assert_fails(&out, 3, "unfinished run");
    assert_eq!(
        src.psql(
            DB,
            "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"
        ),
        "pgcopydb"
    );
    let out = pgcopydb()
        .args(["stream", "cleanup", "--source", &src.uri(DB)])
        .args(["--target", &tgt.uri(DB), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out, "stream cleanup");
    assert_eq!(slots(), "0");
    assert_eq!(publications(), "0");

    // Killed again (the target now holds a partial copy: start over).
    crash_mid_copy(&["--restart", "--drop-if-exists"]);
    let mut child = clone(&["--restart", "--drop-if-exists"]).spawn().unwrap();
    let applying = || {
        pgcopydb()
            .args(["stream", "sentinel", "get", "--json", "--dir"])
            .arg(dir.path())
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .is_some_and(|s| s["apply"] == true)
    };
    wait_for("the copy is done", &mut child, applying);
    src.psql(DB, &small_transaction(1));
    let out = pgcopydb()
        .args(["stream", "sentinel", "set", "endpos", "--current"])
        .args(["--source", &src.uri(DB), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out, "stream sentinel set endpos --current");
    let out = wait_exit(child, dir.path());
    assert_success(&out, "clone --follow --restart");
    assert_eq!(slots(), "1");
    let out = pgcopydb()
        .args(["stream", "cleanup", "--source", &src.uri(DB)])
        .args(["--target", &tgt.uri(DB), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_success(&out, "stream cleanup");
    assert_eq!(slots(), "0");
    verify::assert_equal(&src, DB, &tgt, DB);
}

/// `clone --follow` killed while it applies under a load that keeps
/// running: the changes committed meanwhile wait in the slot, `follow
/// --resume` takes them after what the store holds, and ends equal.
#[test]
fn clone_follow_killed_under_load_then_resume() {
    let src = Cluster::start_with(
        &support::pgbin(),
        &[
            ("wal_level", "logical"),
            ("max_replication_slots", "10"),
            ("max_wal_senders", "10"),
        ],
    );
    let tgt = Cluster::start();
    src.create_db(DB);
    tgt.create_db(DB);
    src.psql(DB, SCHEMA);
    let run = Follow {
        src,
        tgt,
        dir: workdir(),
        points: Failpoints::new(),
        plugin: "pgoutput",
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop_load = support::follow::StopLoad(&stop);
        let load = s.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                run.src.psql(DB, &small_transaction(i));
                i += 1;
            }
        });
        let mut cmd = run.command(&["clone", "--follow"]);
        run.points.arm(&mut cmd, "stream-applied=crash@15");
        let out = cmd.output().unwrap();
        run.points.expect_reached("stream-applied", &out);
        assert_eq!(out.status.signal(), Some(libc::SIGKILL));
        // The load goes on past the crash.
        let before = run.src.psql(DB, "SELECT count(*) FROM events");
        wait_until_more_events(&run.src, &before);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        load.join().expect("load thread");
    });
    run.set_endpos_current();
    run.resume_to_end();
}

/// Until the source has more `events` rows than `before` (the load ran).
fn wait_until_more_events(src: &Cluster, before: &str) {
    let start = Instant::now();
    while src.psql(DB, "SELECT count(*) FROM events") == before {
        assert!(start.elapsed() < HANG_GUARD, "the load stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `stream receive` (store only) through a source restart: it reconnects
/// and receives up to endpos; `stream catchup` then applies it all once.
#[test]
fn stream_receive_through_a_source_restart_then_catchup() {
    let run = Follow::new("pgoutput");
    run.src.psql(DB, &workload());
    let mut child = run.command(&["stream", "receive"]).spawn().unwrap();
    wait_for("changes are stored", &mut child, || {
        pgcopydb()
            .args(["stream", "sentinel", "get", "--json", "--dir"])
            .arg(run.dir.path())
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .is_some_and(|s| {
                let (flushed, start) = (&s["flush_lsn"], &s["startpos"]);
                flushed.is_string() && flushed != "0/0" && flushed != start
            })
    });
    run.src.restart();
    let more: String = (100..140).map(small_transaction).collect();
    run.src.psql(DB, &more);
    run.set_endpos_current();
    let out = wait_exit(child, run.dir.path());
    let text = support::output_text(&out);
    assert_success(&out, "stream receive through a restart");
    assert!(text.contains("reconnecting"), "{text}");
    let out = run.command(&["stream", "catchup"]).output().unwrap();
    assert_success(&out, "stream catchup");
    let cleanup = run.command(&["stream", "cleanup"]).output().unwrap();
    assert_success(&cleanup, "stream cleanup");
    verify::assert_equal(&run.src, DB, &run.tgt, DB);
}
