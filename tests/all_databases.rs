//! `clone --all-databases`: a whole source instance (the demo database, two small
//! databases, one with a name that needs quoting and owned by its own role)
//! into an empty target instance, each database checked by the independent
//! verifier; then a second run refused, and a run killed and resumed.

use crate::support;

use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::{pgcopydb, verify, workdir, Cluster};

/// Owned by `app_owner`, who owns the database: a serial sequence, an
/// index, a standalone sequence and a large object.
const MY_DB: &str = "
SET ROLE app_owner;
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, qty int);
CREATE INDEX items_name ON items (name);
INSERT INTO items (name, qty) SELECT 'item ' || g, g % 17 FROM generate_series(1, 3000) g;
CREATE SEQUENCE tickets START 100;
SELECT setval('tickets', 1234);
SELECT lo_from_bytea(0, convert_to(repeat('my db blob ', 500), 'UTF8'));
";

const SMALL: &str = "
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text, at timestamptz);
CREATE INDEX events_kind ON events (kind);
INSERT INTO events (kind, at)
  SELECT 'k' || (g % 5), '2024-01-01'::timestamptz + g * interval '1 second'
  FROM generate_series(1, 5000) g;
CREATE SEQUENCE counter;
SELECT setval('counter', 77);
SELECT lo_from_bytea(0, '\\x00ff00ff'::bytea);
";

/// The databases the run must copy (postgres too: it is not a template).
const DATABASES: &[&str] = &["demo", "My DB", "small", "postgres"];

fn source_instance() -> Cluster {
    let src = Cluster::start();
    src.load_demo("demo");
    src.psql(
        "postgres",
        "CREATE ROLE app_owner LOGIN; CREATE DATABASE \"My DB\" OWNER app_owner;",
    );
    src.psql("My DB", MY_DB);
    src.create_db("small");
    src.psql("small", SMALL);
    src
}

fn assert_all_equal(src: &Cluster, tgt: &Cluster) {
    for db in DATABASES {
        let exists = tgt.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                db.replace('\'', "''")
            ),
        );
        assert_eq!(exists, "1", "database {db} missing on the target");
        verify::assert_equal(src, db, tgt, db);
    }
}

#[test]
fn all_databases_copies_the_instance_and_refuses_a_second_run() {
    let src = source_instance();
    let tgt = Cluster::start();
    let dir = workdir();
    let out = support::clone_all_databases(&src, &tgt, dir.path())
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb");
    assert_all_equal(&src, &tgt);

    // Roles came first, so the database keeps its owner; and the encoding.
    assert_eq!(
        tgt.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) \
             FROM pg_database WHERE datname = 'My DB'"
        ),
        "app_owner UTF8"
    );

    // One consolidated summary, printed and written as JSON.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for db in DATABASES {
        assert!(stdout.contains(db), "{db} not in the summary:\n{stdout}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let dbs = summary["databases"].as_array().unwrap();
    for db in DATABASES {
        assert!(
            dbs.iter().any(|d| d["database"] == *db),
            "{db} not in {summary:#}"
        );
    }
    let demo = dbs.iter().find(|d| d["database"] == "demo").unwrap();
    assert!(demo["tables"].as_u64().unwrap() >= 15, "{demo}");
    assert!(demo["rows"].as_u64().unwrap() >= 76622, "{demo}");
    assert_eq!(summary["failed_databases"].as_array().unwrap().len(), 0);
    assert_eq!(summary["roles_created"], serde_json::json!(["app_owner"]));
    // Each database has its own work directory, for --resume.
    assert!(dir.path().join("My DB").join("summary.json").exists());

    // A second run finds the tables there and is refused before any work.
    let again = support::clone_all_databases(&src, &tgt, dir.path())
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--drop-if-exists"), "{stderr}");

    // compare data --all-databases sees every database equal, then a change.
    support::assert_success(&compare_all(&src, &tgt), "pgcopydb");
    src.psql("small", "INSERT INTO events (kind) VALUES ('late')");
    let differs = compare_all(&src, &tgt);
    assert_eq!(differs.status.code(), Some(12));
    let report = String::from_utf8_lossy(&differs.stdout);
    assert!(report.contains("database small"), "{report}");

    // With --drop-if-exists it replaces them.
    let replaced = support::clone_all_databases(&src, &tgt, dir.path())
        .arg("--drop-if-exists")
        .output()
        .unwrap();
    support::assert_success(&replaced, "pgcopydb");
    verify::assert_equal(&src, "small", &tgt, "small");
    support::assert_success(&compare_all(&src, &tgt), "pgcopydb");
}

fn compare_all(src: &Cluster, tgt: &Cluster) -> Output {
    pgcopydb()
        .args(["compare", "data", "--all-databases"])
        .args([
            "--source",
            &src.uri("postgres"),
            "--target",
            &tgt.uri("postgres"),
        ])
        .output()
        .unwrap()
}

#[test]
fn all_databases_resumes_after_sigkill() {
    let src = Cluster::start();
    for db in ["one", "two two"] {
        src.create_db(db);
        src.psql(
            db,
            "CREATE TABLE big (id bigint PRIMARY KEY, a text, b numeric);
             INSERT INTO big SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 200000) g;
             CREATE INDEX big_a ON big (a);
             CREATE TABLE big2 AS SELECT * FROM big;
             CREATE TABLE side (id serial PRIMARY KEY, big_id bigint REFERENCES big (id));
             INSERT INTO side (big_id) SELECT g FROM generate_series(1, 20000) g;
             SELECT lo_from_bytea(0, 'blob');",
        );
    }
    // Each database's tables get names of their own, so that the label the
    // failpoint reports names one database's table (both copy at once).
    src.psql(
        "two two",
        "ALTER TABLE big RENAME TO big_b; ALTER TABLE big2 RENAME TO big2_b;
         ALTER TABLE side RENAME TO side_b;",
    );
    let tgt = Cluster::start();
    let dir = workdir();
    let points = support::failpoints::Failpoints::new();
    let mut cmd = support::clone_all_databases(&src, &tgt, dir.path());
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // The run stops once the second table of the instance is copied and
    // before it is recorded; it is killed there.
    let mut child = points
        .arm(&mut cmd, "table-copied=pause@2")
        .spawn()
        .unwrap();
    // While it copies, the two databases together never run more COPYs
    // than --table-jobs (sampled until the pause).
    const ACTIVE_COPIES: &str = "SELECT count(*) FROM pg_stat_activity \
        WHERE state = 'active' AND query LIKE 'COPY % FROM STDIN%'";
    let started = Instant::now();
    let mut most = 0;
    while points.reached("table-copied").is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its second table copy"
        );
        assert!(
            started.elapsed() < crate::support::follow::HANG_GUARD,
            "no copy ended"
        );
        let n: u32 = tgt
            .try_psql("postgres", ACTIVE_COPIES)
            .map_or(0, |n| n.parse().unwrap_or(0));
        most = most.max(n);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(most > 0, "no COPY seen on the target");
    assert!(most <= 2, "{most} COPYs at once with --table-jobs 2");
    // The paused table is committed, not recorded, in its database's state.
    let table = points.reached("table-copied").unwrap();
    let running: Vec<&str> = ["one", "two two"]
        .into_iter()
        .filter(|db| {
            support::list_progress(&dir.path().join(db))["units"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| {
                    u["kind"] == "table" && u["label"] == table.as_str() && u["state"] == "running"
                })
        })
        .collect();
    assert_eq!(running.len(), 1, "{table} running in {running:?}");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let unfinished = ["one", "two two"]
        .iter()
        .any(|db| !dir.path().join(db).join("done").exists());
    assert!(unfinished, "every database had finished before the kill");

    let out = support::clone_all_databases(&src, &tgt, dir.path())
        .args(["--resume", "--not-consistent"])
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb");
    eprintln!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for db in ["one", "two two"] {
        verify::assert_equal(&src, db, &tgt, db);
    }
}
