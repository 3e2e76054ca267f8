//! The step-by-step commands, run one after another on one work directory,
//! give the same target as one `clone`.

use crate::support;

use std::io::BufRead;
use std::process::Stdio;

use crate::support::{fixture, pgcopydb, verify, workdir, Cluster};

#[test]
fn steps_one_after_another_equal_a_clone() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("cov");
    src.load_sql_file("cov", &fixture("coverage.sql"));
    tgt.create_db("cov");
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    let (s, t) = (src.uri("cov"), tgt.uri("cov"));

    // Roles first (global objects the schema refers to).
    let out = pgcopydb()
        .args(["copy", "roles", "--source", &s, "--target", &t, "--dir", d])
        .output()
        .unwrap();
    support::assert_success(&out, "copy roles");
    assert_eq!(
        tgt.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('cov_reader', 'cov_owner')"
        ),
        "2"
    );

    // One snapshot held for every step, as a migration script would.
    let mut holder = pgcopydb()
        .args(["snapshot", "--source", &s, "--dir", d])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut id = String::new();
    std::io::BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut id)
        .unwrap();
    assert!(!id.trim().is_empty());

    let steps: &[&[&str]] = &[
        &["dump", "schema"],
        &["restore", "pre-data"],
        &["copy", "table-data"],
        &["copy", "sequences"],
        &["copy", "blobs"],
        &["copy", "indexes"],
        &["copy", "constraints"],
        &["restore", "post-data"],
    ];
    for step in steps {
        let out = pgcopydb()
            .args(*step)
            .args(["--source", &s, "--target", &t, "--dir", d])
            .output()
            .unwrap();
        support::assert_success(&out, &step.join(" "));
    }
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    holder.wait().unwrap();
    verify::assert_equal(&src, "cov", &tgt, "cov");

    // The restore lists show what the restore skipped: the indexes built by
    // `copy indexes` are commented out of post-data.
    let out = pgcopydb()
        .args([
            "restore",
            "parse-list",
            "--source",
            &s,
            "--target",
            &t,
            "--dir",
            d,
        ])
        .output()
        .unwrap();
    support::assert_success(&out, "restore parse-list");
    let lists = String::from_utf8_lossy(&out.stdout);
    assert!(
        lists
            .lines()
            .any(|l| l.starts_with(';') && l.contains(" INDEX ")),
        "{lists}"
    );
    assert!(
        lists
            .lines()
            .any(|l| !l.starts_with(';') && l.contains(" TABLE ")),
        "{lists}"
    );
}

#[test]
fn restore_without_a_dump_says_what_to_run() {
    let c = Cluster::shared_target();
    c.create_db("db");
    c.create_db("copy");
    let dir = workdir();
    let out = pgcopydb()
        .args([
            "restore",
            "post-data",
            "--source",
            &c.uri("db"),
            "--target",
            &c.uri("copy"),
        ])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dump schema"));
}
