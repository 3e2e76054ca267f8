//! The pgcopydb binary under test with a clean environment, work directories,
//! and the checks on a command's outcome.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::{Cluster, LIBPQ_ENV};

/// The pgcopydb binary under test, with no PGCOPYDB_* nor libpq variables inherited.
pub fn pgcopydb() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgcopydb"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PGCOPYDB_") {
            cmd.env_remove(&key);
        }
    }
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A fresh temporary work directory (removed on drop).
pub fn workdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pgcopydb-test-work-")
        .tempdir()
        .expect("create work dir");
    // Ours, 0700: pgcopydb refuses a work directory of another user.
    dir
}

/// `pgcopydb clone` from `src`'s database `src_db` into `tgt`'s `tgt_db`,
/// with the work directory `dir` and `extra` arguments; its output, whatever
/// the outcome.
pub fn clone_between(
    from: (&Cluster, &str),
    to: (&Cluster, &str),
    dir: &Path,
    extra: &[&str],
) -> std::process::Output {
    clone_command(from, to, dir, extra)
        .output()
        .expect("run pgcopydb clone")
}

/// The command [`clone_between`] runs, for a test that starts it and acts
/// while it runs.
pub fn clone_command(
    (src, src_db): (&Cluster, &str),
    (tgt, tgt_db): (&Cluster, &str),
    dir: &Path,
    extra: &[&str],
) -> Command {
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--source", &src.uri(src_db)])
        .args(["--target", &tgt.uri(tgt_db)])
        .arg("--dir")
        .arg(dir)
        .args(extra);
    cmd
}

/// `pgcopydb clone --resume --not-consistent` of the run recorded in `dir`,
/// from `src`'s `src_db` into `tgt`'s `tgt_db`; its output, whatever the outcome.
pub fn resume_between(
    (src, src_db): (&Cluster, &str),
    (tgt, tgt_db): (&Cluster, &str),
    dir: &Path,
) -> std::process::Output {
    clone_between(
        (src, src_db),
        (tgt, tgt_db),
        dir,
        &["--resume", "--not-consistent"],
    )
}

/// `pgcopydb clone --all-databases --table-jobs 2 --index-jobs 2` of the
/// whole `src` instance into `tgt`, with the work directory `dir`, ready to
/// run.
pub fn clone_all_databases(src: &Cluster, tgt: &Cluster, dir: &Path) -> Command {
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--all-databases"])
        .args(["--table-jobs", "2", "--index-jobs", "2"])
        .args(["--source", &src.uri("postgres")])
        .args(["--target", &tgt.uri("postgres")])
        .arg("--dir")
        .arg(dir);
    cmd
}

/// `pgcopydb list progress --json` of a work directory, or None when it
/// holds no state yet.
pub fn try_list_progress(dir: &Path) -> Option<serde_json::Value> {
    let out = pgcopydb()
        .args(["list", "progress", "--json", "--dir"])
        .arg(dir)
        .output()
        .expect("run pgcopydb list progress");
    serde_json::from_slice(&out.stdout).ok()
}

/// `pgcopydb list progress --json` of a work directory; fails the test when
/// the command does.
pub fn list_progress(dir: &Path) -> serde_json::Value {
    let out = pgcopydb()
        .args(["list", "progress", "--json", "--dir"])
        .arg(dir)
        .output()
        .expect("run pgcopydb list progress");
    assert_success(&out, "list progress");
    serde_json::from_slice(&out.stdout).expect("list progress JSON")
}

/// A command's stdout (where the summary goes) then its stderr (the log).
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fail the test with the command's output unless it succeeded.
/// Exit code `code`, exactly one `error:` line naming `needle`, and neither
/// the password nor a panic anywhere in stderr.
pub fn assert_fails(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line:\n{stderr}");
    assert!(
        errors.iter().all(|e| e.contains(needle)),
        "error line {errors:?} should mention {needle:?}"
    );
    assert!(
        !stderr.contains(Cluster::PASSWORD),
        "password leaked:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

pub fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Poll `done` until it holds; a minute at most (a guard against a hang, not
/// a timing claim).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < super::follow::HANG_GUARD,
            "never reached: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
