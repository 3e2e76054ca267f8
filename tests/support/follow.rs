//! Helpers of the change data capture tests: a source with logical
//! decoding, pgcopydb's CDC commands on a work directory, waits chosen by
//! state (the sentinel, `list progress`), never by the clock.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{assert_success, pgcopydb, Cluster};

/// Only guards against a hang: a test that waits this long has failed. Generous: a
/// machine at load average 20 makes a 30 s follow take minutes.
pub const HANG_GUARD: Duration = Duration::from_secs(600);

/// A server of `bindir` that can decode its WAL logically.
pub fn logical_cluster(bindir: &Path) -> Cluster {
    Cluster::start_with(
        bindir,
        &[
            ("wal_level", "logical"),
            ("max_replication_slots", "10"),
            ("max_wal_senders", "10"),
        ],
    )
}

/// `pgcopydb <sub> --source --target --dir`, output captured.
pub fn command(sub: &[&str], src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) -> Command {
    let mut cmd = pgcopydb();
    cmd.args(sub)
        .args(["--source", &src.uri(db), "--target", &tgt.uri(db)])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `pgcopydb <sub> ...` to its end.
pub fn run(sub: &[&str], src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) -> Output {
    command(sub, src, tgt, db, dir)
        .output()
        .unwrap_or_else(|e| panic!("run pgcopydb {sub:?}: {e}"))
}

/// `stream sentinel get --json`, or None before the sentinel exists.
pub fn sentinel(dir: &Path) -> Option<serde_json::Value> {
    let out = pgcopydb()
        .args(["stream", "sentinel", "get", "--json", "--dir"])
        .arg(dir)
        .output()
        .expect("run sentinel get");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Whether the follower is past the copy and applying.
pub fn applying(dir: &Path) -> bool {
    sentinel(dir).is_some_and(|s| s["apply"] == true)
}

/// The `cdc` part of `list progress --json`.
pub fn progress(dir: &Path) -> Option<serde_json::Value> {
    super::try_list_progress(dir).map(|p| p["cdc"].clone())
}

/// Polls `done` until it holds; fails the test if the child exits first.
pub fn wait_for(what: &str, child: &mut Child, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child_output(child);
            panic!("the follower exited ({status}) before {what}:\n{out}");
        }
        if start.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            let out = child_output(child);
            let tail = out.get(out.len().saturating_sub(4000)..).unwrap_or(&out);
            panic!("{what}: never happened; the follower said:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn child_output(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut text);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    text
}

/// Waits for the child's exit (guarded against a hang).
pub fn wait_exit(mut child: Child, dir: &Path) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > HANG_GUARD {
            eprintln!("progress at the hang: {:?}", progress(dir));
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            let text = super::output_text(&out);
            let tail = text.get(text.len().saturating_sub(4000)..).unwrap_or(&text);
            panic!("the follower did not stop at endpos:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `stream sentinel set endpos --current`.
pub fn set_endpos_current(src: &Cluster, db: &str, dir: &Path) {
    let out = pgcopydb()
        .args([
            "stream",
            "sentinel",
            "set",
            "endpos",
            "--current",
            "--source",
        ])
        .arg(src.uri(db))
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run sentinel set endpos");
    assert_success(&out, "stream sentinel set endpos --current");
}

/// An LSN as PostgreSQL prints it (`16/B374D848`), as a number.
pub fn lsn(text: &str) -> u64 {
    let (hi, lo) = text
        .split_once('/')
        .unwrap_or_else(|| panic!("not an LSN: {text:?}"));
    let hi = u64::from_str_radix(hi, 16).expect("LSN high half");
    let lo = u64::from_str_radix(lo, 16).expect("LSN low half");
    (hi << 32) | lo
}

/// No replication slot and no publication left on the source.
pub fn assert_no_slot_or_publication(src: &Cluster, db: &str) {
    assert_eq!(
        src.psql(db, "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
    assert_eq!(src.psql(db, "SELECT count(*) FROM pg_publication"), "0");
}

/// What `stream cleanup` drops is gone: the slot and the publication on
/// the source, the replication origin on the target.
pub fn assert_nothing_left(src: &Cluster, tgt: &Cluster, db: &str) {
    assert_no_slot_or_publication(src, db);
    assert_eq!(
        tgt.psql(db, "SELECT count(*) FROM pg_replication_origin"),
        "0"
    );
}

/// The end of a cut-over: the target holds no publication of ours (the
/// copy leaves the stream's publication out of the restore), `stream
/// cleanup` drops what the run made, and the target equals the source
/// (compared once the source's publication is gone, as a user would).
pub fn cleanup_and_verify(src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) {
    assert_eq!(tgt.psql(db, "SELECT count(*) FROM pg_publication"), "0");
    assert_success(
        &run(&["stream", "cleanup"], src, tgt, db, dir),
        "stream cleanup",
    );
    assert_nothing_left(src, tgt, db);
    super::verify::assert_equal(src, db, tgt, db);
}

/// Ends a load thread however the scope around it ends: a failed wait
/// unwinds through `std::thread::scope`, which then joins the load, so a
/// load still running would turn a failure into a hang.
pub struct StopLoad<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopLoad<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
