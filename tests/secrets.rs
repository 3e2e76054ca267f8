//! Passwords never reach what other processes can read: the command lines and
//! environments of pg_dump, pg_restore and pg_dumpall, nor error messages.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{pgcopydb, verify, workdir, Cluster};

/// A directory of pg_dump/pg_restore/pg_dumpall wrappers that append their
/// environment and arguments to `log`, then run the real program.
fn spying_bindir(dir: &Path, log: &Path) {
    let real = support::pgbin();
    for program in ["pg_dump", "pg_restore", "pg_dumpall"] {
        let script = format!(
            "#!/bin/sh\n\
             {{ echo \"== {program} $*\"; env; }} >> '{log}'\n\
             exec '{real}/{program}' \"$@\"\n",
            log = log.display(),
            real = real.display(),
        );
        let path = dir.join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The log is written by the children, which run as whoever runs pgcopydb.
    std::fs::write(log, "").unwrap();
    std::fs::set_permissions(log, std::fs::Permissions::from_mode(0o666)).unwrap();
}

#[test]
fn children_get_the_password_in_no_argument_nor_environment() {
    let (src, tgt) = support::source_and_target("db");
    src.psql(
        "db",
        "CREATE ROLE app_owner LOGIN PASSWORD 'app-Secret-4'; \
         CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g;",
    );
    let spy = tempfile::tempdir().unwrap();
    let log = spy.path().join("children.log");
    spying_bindir(spy.path(), &log);
    let dir = workdir();

    // The connection strings, passwords included, come through the
    // environment, as scripts often pass them.
    let out = pgcopydb()
        .args(["clone", "--roles", "--dir"])
        .arg(dir.path())
        .env("PGCOPYDB_SOURCE_PGURI", src.uri("db"))
        .env("PGCOPYDB_TARGET_PGURI", tgt.uri("db"))
        .env("PGCOPYDB_PG_BINDIR", spy.path())
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb clone through spying wrappers");
    verify::assert_equal(&src, "db", &tgt, "db");

    let seen = std::fs::read_to_string(&log).unwrap();
    for program in ["== pg_dump ", "== pg_restore ", "== pg_dumpall "] {
        assert!(seen.contains(program), "{program} did not run:\n{seen}");
    }
    assert!(
        !seen.contains(Cluster::PASSWORD),
        "the password reached a child's arguments or environment:\n{seen}"
    );
    assert!(
        !seen.lines().any(|l| l.starts_with("PGCOPYDB_")),
        "a PGCOPYDB_ variable reached a child:\n{seen}"
    );
    assert!(
        !seen.lines().any(|l| l.starts_with("PGPASSWORD=")),
        "{seen}"
    );
    // They authenticated (scram over TCP) with an in-memory password file.
    assert!(seen.contains("PGPASSFILE=/proc/self/fd/"), "{seen}");
}

#[test]
fn a_password_in_a_uri_query_is_masked_in_errors() {
    for uri in [
        "postgres://u@h:5432/db?password=p%40ssWORD&foo=bar",
        "postgres://u@h:5432/db?password=p%zzssWORD",
        "postgres://u@h:5432/db?password=p%40ss&WORD",
    ] {
        let out = pgcopydb()
            .args(["list", "databases", "--source", uri])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("invalid URI"), "{stderr}");
        assert!(!stderr.contains("WORD"), "password shown:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// What `ps` shows of a running clone given passwords on its command line
/// (a URI's and a keyword/value string's): the command, not the passwords.
#[test]
fn passwords_on_the_command_line_are_hidden_from_ps() {
    let (src, tgt) = support::source_and_target("argv");
    src.psql("argv", "CREATE TABLE t (id int PRIMARY KEY)");
    let dir = workdir();
    let points = support::failpoints::Failpoints::new();
    let target = format!(
        "host=127.0.0.1 port={} user=postgres dbname='{}' password={}",
        tgt.port,
        tgt.db_name("argv")
            .replace('\\', "\\\\")
            .replace('\'', "\\'"),
        Cluster::PASSWORD
    );
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--source", &src.uri("argv"), "--target", &target])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = points.arm(&mut cmd, "schema-dumped=pause").spawn().unwrap();
    points.wait_reached("schema-dumped", &mut child);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    points.release("schema-dumped");
    let out = child.wait_with_output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(!shown.contains(Cluster::PASSWORD), "{shown}");
    assert!(shown.contains("postgres://postgres:***"), "{shown}");
    assert!(shown.contains(" password=***"), "{shown}");
    assert!(shown.contains(&format!("port={}", tgt.port)), "{shown}");
}
