//! The work directory: pgcopydb deletes nothing it did not write, writes
//! through no planted link, keeps it private whatever the umask, lets one
//! run at a time in, and answers a damaged state with exit 3 and a sentence.

use crate::support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{
    assert_fails, assert_success, clone_between, pgcopydb, running_as_root, workdir, Cluster,
};

fn user_directory(root: &Path) {
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::create_dir_all(root.join("schema")).unwrap();
    fs::write(root.join("precious.txt"), "mine").unwrap();
    fs::write(root.join("docs/notes.md"), "mine").unwrap();
    fs::write(root.join("schema/mine.txt"), "mine").unwrap();
}

fn assert_user_directory_intact(root: &Path) {
    for f in ["precious.txt", "docs/notes.md", "schema/mine.txt"] {
        assert_eq!(fs::read_to_string(root.join(f)).unwrap(), "mine", "{f}");
    }
}

#[test]
fn a_users_directory_is_never_emptied_and_a_bad_state_is_exit_3() {
    let c = Cluster::start();
    c.create_db("src");
    c.create_db("tgt");
    c.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);",
    );
    let clone = |dir: &Path, extra: &[&str]| clone_between((&c, "src"), (&c, "tgt"), dir, extra);

    // A user's directory, fresh and with --restart: refused, every file kept.
    let dir = workdir();
    user_directory(dir.path());
    for extra in [&[][..], &["--restart"]] {
        let out = clone(dir.path(), extra);
        assert_fails(&out, 3, "holds no pgcopydb run (it has docs)");
        assert_user_directory_intact(dir.path());
    }

    // The target already has the table: refused before writing anything,
    // and the natural retry needs no --restart.
    let run = workdir();
    c.psql("tgt", "CREATE TABLE t (id int); INSERT INTO t VALUES (9);");
    assert_fails(&clone(run.path(), &[]), 7, "--drop-if-exists");
    assert_success(&clone(run.path(), &["--drop-if-exists"]), "retry");
    assert_eq!(c.psql("tgt", "SELECT count(*) FROM t"), "2");
    // A finished run's directory: a fresh run and --restart reuse it, and
    // what the user added there stays.
    fs::write(run.path().join("precious.txt"), "mine").unwrap();
    assert_success(&clone(run.path(), &["--drop-if-exists"]), "fresh run");
    assert_success(
        &clone(run.path(), &["--drop-if-exists", "--restart"]),
        "restart",
    );
    assert_eq!(
        fs::read_to_string(run.path().join("precious.txt")).unwrap(),
        "mine"
    );

    // --dir is a file.
    let file = run.path().join("precious.txt");
    assert_fails(&clone(&file, &[]), 3, "is not a directory");

    // A damaged state: truncated, overwritten, empty.
    let state = run.path().join("pgcopydb.db");
    let bytes = fs::read(&state).unwrap();
    fs::remove_file(run.path().join("done")).unwrap();
    let resume = ["--resume", "--not-consistent", "--drop-if-exists"];
    fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails(
        &clone(run.path(), &resume),
        3,
        "cannot be read (it is damaged",
    );
    assert_fails(&clone(run.path(), &[]), 3, "cannot be read (it is damaged");
    fs::write(&state, vec![b'x'; 8192]).unwrap();
    assert_fails(
        &clone(run.path(), &resume),
        3,
        "cannot be read (it is damaged",
    );
    fs::write(&state, b"").unwrap();
    assert_fails(
        &clone(run.path(), &resume),
        3,
        "cannot be read (it is empty)",
    );
    // --restart is the way out it names.
    assert_success(
        &clone(run.path(), &["--drop-if-exists", "--restart"]),
        "restart",
    );
}

/// `program args` run with umask 000.
fn under_umask_000(args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", "umask 000; exec \"$@\"", "sh"])
        .arg(pgcopydb().get_program())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pgcopydb")
}

/// Every directory under `root` is 0700 and every file 0600.
fn assert_private(root: &Path) {
    let mode = fs::metadata(root).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", root.display());
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_private(&path);
        } else {
            assert_eq!(meta.mode() & 0o777, 0o600, "{}", path.display());
        }
    }
}

#[test]
fn the_work_directory_is_private_and_links_in_it_are_not_followed() {
    let (src, tgt) = support::source_and_target("db");
    src.psql(
        "db",
        "CREATE ROLE app_owner LOGIN PASSWORD 'app-secret';
         CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    let outside = workdir();
    let planted = |dir: &Path| {
        for name in ["pgcopydb.pid", "summary.json", "snapshot"] {
            let target = outside.path().join(name);
            fs::write(&target, "precious").unwrap();
            let _ = fs::remove_file(dir.join(name));
            symlink(&target, dir.join(name)).unwrap();
        }
    };
    let untouched = || {
        for name in ["pgcopydb.pid", "summary.json", "snapshot"] {
            let text = fs::read_to_string(outside.path().join(name)).unwrap();
            assert_eq!(text, "precious", "{name} written through a link");
        }
    };

    // `copy roles --trace` with umask 000: no verifier printed, the dump 0600.
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    let out = under_umask_000(&[
        "copy",
        "roles",
        "--trace",
        "--source",
        &src.uri("db"),
        "--target",
        &tgt.uri("db"),
        "--dir",
        d,
    ]);
    assert_success(&out, "copy roles");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("app_owner"), "statements are traced:\n{log}");
    assert!(!log.contains("SCRAM-SHA-256$"), "verifier printed:\n{log}");
    assert!(log.contains("PASSWORD '***'"), "{log}");
    assert_private(dir.path());

    // A clone into a directory with planted links, then a resume with new
    // ones: what the links point to is untouched, everything stays private.
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    planted(dir.path());
    let clone = |extra: &[&str]| {
        let mut args = vec!["clone", "--roles", "--source"];
        let (s, t) = (src.uri("db"), tgt.uri("db"));
        args.extend([s.as_str(), "--target", t.as_str(), "--dir", d]);
        args.extend(extra);
        under_umask_000(&args)
    };
    assert_success(&clone(&[]), "clone");
    untouched();
    assert_private(dir.path());
    planted(dir.path());
    assert_success(&clone(&["--resume", "--not-consistent"]), "resume");
    untouched();
    assert!(fs::symlink_metadata(dir.path().join("summary.json"))
        .unwrap()
        .is_file());

    // --all-databases into a user's directory: refused, every file kept.
    let dir = workdir();
    user_directory(dir.path());
    let out = support::clone_all_databases(&src, &tgt, dir.path())
        .output()
        .unwrap();
    assert_fails(&out, 3, "holds no pgcopydb run (it has docs");
    assert_user_directory_intact(dir.path());
}

/// `pgcopydb snapshot --dir` with a source that is never reached: the work
/// directory is judged first.
fn snapshot_in(dir: &Path) -> Output {
    pgcopydb()
        .args([
            "snapshot",
            "--source",
            "postgres://u@127.0.0.1:1/db",
            "--dir",
        ])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn a_directory_others_can_write_or_own_is_refused() {
    let dir = workdir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    assert_fails(&snapshot_in(dir.path()), 3, "is writable by other users");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    if !running_as_root() {
        eprintln!("skipped: a directory of another user needs root to make");
        return;
    }
    let status = Command::new("chown")
        .arg("postgres")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_fails(&snapshot_in(dir.path()), 3, "is owned by another user");
}

#[test]
fn of_two_runs_started_at_once_on_one_directory_exactly_one_gets_it() {
    let c = Cluster::start();
    c.create_db("db");
    for round in 0..20 {
        let dir = workdir();
        let mut pair: Vec<_> = (0..2)
            .map(|_| {
                pgcopydb()
                    .args(["snapshot", "--source", &c.uri("db"), "--dir"])
                    .arg(dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // A holder prints its snapshot and waits; the other exits (EOF).
        let holders: Vec<bool> = pair
            .iter_mut()
            .map(|child| {
                let mut line = String::new();
                let stdout = child.stdout.as_mut().unwrap();
                BufReader::new(stdout).read_line(&mut line).unwrap() > 0
            })
            .collect();
        for child in &pair {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        let outputs: Vec<Output> = pair
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        assert_eq!(
            holders.iter().filter(|h| **h).count(),
            1,
            "round {round}: {:?}",
            outputs
                .iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .collect::<Vec<_>>()
        );
        let loser = &outputs[holders.iter().position(|h| !h).unwrap()];
        assert_fails(loser, 3, "in use by another pgcopydb");
    }
}
