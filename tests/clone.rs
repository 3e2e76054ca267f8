//! End-to-end clones between two throwaway servers, each checked by the
//! independent verifier (row counts, checksums, sequences, indexes,
//! constraints, large objects, schema dump diff), never by pgcopydb's output.

use crate::support;

use std::path::Path;
use std::process::Output;

use crate::support::{fixture, pgcopydb, verify, workdir, Cluster};

/// Run `pgcopydb clone` and return its output, failing the test on error.
fn clone(src: &Cluster, tgt: &Cluster, db: &str, dir: &Path, extra: &[&str]) -> Output {
    let out = support::clone_between((src, db), (tgt, db), dir, extra);
    support::assert_success(&out, "pgcopydb");
    out
}

/// No file in the work directory, and no output line, holds the password.
fn assert_no_password(dir: &Path, out: &Output) {
    let secret = Cluster::PASSWORD;
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "password found in {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A source that logs every write (`log_statement = 'mod'`), so that a test
/// can check none came from pgcopydb.
fn source_cluster() -> Cluster {
    Cluster::shared_source()
}

/// Clone `db`, loaded by `load`, with --verify: the verifier finds it equal,
/// the source sees no write, no password is left behind, and the summary
/// (printed and as JSON) counts `rows` rows in `table`.
fn clone_sample_verifies_equal(db: &str, load: fn(&Cluster, &str), table: &str, rows: u64) {
    let src = source_cluster();
    let tgt = Cluster::shared_target();
    load(&src, db);
    tgt.create_db(db);
    let dir = workdir();
    let before = src.log_len();
    let out = clone(&src, &tgt, db, dir.path(), &["--verbose", "--verify"]);
    verify::assert_equal(&src, db, &tgt, db);
    src.assert_no_statements_since(before);
    assert_no_password(dir.path(), &out);

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(table), "{stdout}");
    assert!(
        stdout.contains("compare data: all"),
        "--verify ran: {stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let counted = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("{table} not in the summary: {summary:#}"));
    assert_eq!(counted["rows"], rows);
}

#[test]
fn clone_demo_verifies_equal() {
    clone_sample_verifies_equal("demo", Cluster::load_demo, "sales.order_line", 40000);
}

#[test]
fn clone_pagila_verifies_equal() {
    if support::pagila_or_skip() {
        clone_sample_verifies_equal("pagila", Cluster::load_pagila, "public.rental", 16044);
    }
}

#[test]
fn clone_coverage_fixture_verifies_equal() {
    let src = source_cluster();
    let tgt = Cluster::shared_target();
    src.create_db("cov");
    src.load_sql_file("cov", &fixture("coverage.sql"));
    tgt.load_sql_file("postgres", &fixture("roles.sql"));
    tgt.create_db("cov");
    let dir = workdir();
    let before = src.log_len();
    let out = clone(
        &src,
        &tgt,
        "cov",
        dir.path(),
        &["--table-jobs", "3", "--index-jobs", "3"],
    );
    verify::assert_equal(&src, "cov", &tgt, "cov");
    src.assert_no_statements_since(before);
    assert_no_password(dir.path(), &out);
}

#[test]
fn clone_coverage_in_text_format_with_single_jobs() {
    // Binary COPY is used by default between same-major servers; this run
    // forces one job of each kind and text COPY for every table through the
    // environment mirrors of the options.
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("cov");
    src.load_sql_file("cov", &fixture("coverage.sql"));
    tgt.load_sql_file("postgres", &fixture("roles.sql"));
    tgt.create_db("cov");
    let dir = workdir();
    let out = pgcopydb()
        .args(["copy", "db"])
        .env("PGCOPYDB_SOURCE_PGURI", src.uri("cov"))
        .env("PGCOPYDB_TARGET_PGURI", tgt.uri("cov"))
        .env("PGCOPYDB_DIR", dir.path())
        .env("PGCOPYDB_TABLE_JOBS", "1")
        .env("PGCOPYDB_INDEX_JOBS", "1")
        .env("PGCOPYDB_RESTORE_JOBS", "1")
        .env("PGCOPYDB_LARGE_OBJECTS_JOBS", "1")
        .env("PGCOPYDB_COPY_FORMAT", "text")
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb");
    verify::assert_equal(&src, "cov", &tgt, "cov");
}

/// How many `ALTER DATABASE/ROLE ... SET` the database holds.
fn database_settings(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        &format!(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d \
             ON d.oid = s.setdatabase WHERE d.datname = '{}'",
            c.db_name(db)
        ),
    )
}

#[test]
fn options_shape_the_copy() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("opt");
    src.psql(
        "opt",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g;
         SELECT lo_from_bytea(0, 'blob');
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '7MB'); END $$;",
    );
    tgt.create_db("opt");
    let dir = workdir();
    clone(
        &src,
        &tgt,
        "opt",
        dir.path(),
        &[
            "--skip-large-objects",
            "--skip-db-properties",
            "--skip-vacuum",
            "--no-acl",
            "--no-owner",
        ],
    );
    assert_eq!(tgt.psql("opt", "SELECT count(*) FROM t"), "1000");
    assert_eq!(tgt.psql("opt", "SELECT count(*) FROM pg_largeobject"), "0");
    assert_eq!(database_settings(&tgt, "opt"), "0");
    assert_eq!(
        tgt.psql(
            "opt",
            "SELECT coalesce(vacuum_count, 0) FROM pg_stat_user_tables WHERE relname = 't'"
        ),
        "0"
    );

    // A second clone into the same target replaces the tables with --drop-if-exists.
    src.psql("opt", "INSERT INTO t VALUES (1001, 'new')");
    clone(&src, &tgt, "opt", workdir().path(), &["--drop-if-exists"]);
    assert_eq!(tgt.psql("opt", "SELECT count(*) FROM t"), "1001");
    assert_eq!(
        tgt.psql("opt", "SELECT count(*) FROM pg_largeobject_metadata"),
        "1"
    );
    assert_eq!(database_settings(&tgt, "opt"), "1");
    verify::assert_equal(&src, "opt", &tgt, "opt");
}

/// Database settings (`ALTER DATABASE/ROLE ... SET`) are read under the
/// clone's snapshot, like the rest of the schema: changed on the source once
/// it is taken (the clone held just after dumping the schema), the target
/// gets them as they were.
#[test]
fn database_settings_changed_after_the_snapshot_are_copied_as_they_were() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("dbset");
    let set = |value: &str| {
        format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', \
             current_database(), '{value}'); END $$;"
        )
    };
    src.psql(
        "dbset",
        &format!("CREATE TABLE t (id int PRIMARY KEY); {}", set("7MB")),
    );
    tgt.create_db("dbset");
    let settings = |c: &Cluster| {
        c.psql(
            "dbset",
            &format!(
                "SELECT s.setconfig::text FROM pg_db_role_setting s JOIN pg_database d \
                 ON d.oid = s.setdatabase WHERE d.datname = '{}'",
                c.db_name("dbset")
            ),
        )
    };
    let dir = workdir();
    let points = support::failpoints::Failpoints::new();
    let mut cmd = support::runner::clone_command((&src, "dbset"), (&tgt, "dbset"), dir.path(), &[]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = points.arm(&mut cmd, "schema-dumped=pause").spawn().unwrap();
    points.wait_reached("schema-dumped", &mut child);
    src.psql("dbset", &set("9MB"));
    points.release("schema-dumped");
    let out = child.wait_with_output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    assert_eq!(settings(&src), "{work_mem=9MB}");
    assert_eq!(settings(&tgt), "{work_mem=7MB}");
}

#[test]
fn snapshot_command_gives_a_consistent_view_to_a_later_clone() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("snap");
    src.psql(
        "snap",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);",
    );
    tgt.create_db("snap");
    let dir = workdir();
    let mut holder = pgcopydb()
        .args(["snapshot", "--source", &src.uri("snap")])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The snapshot id is the first line the holder prints.
    let mut line = String::new();
    {
        use std::io::BufRead;
        let stdout = holder.stdout.as_mut().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
    }
    assert!(!line.trim().is_empty());
    // Rows added after the snapshot must not be copied.
    src.psql("snap", "INSERT INTO t SELECT generate_series(101, 150)");
    clone(&src, &tgt, "snap", dir.path(), &[]);
    assert_eq!(tgt.psql("snap", "SELECT count(*) FROM t"), "100");
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    assert!(holder.wait().unwrap().success());
    assert!(!dir.path().join("snapshot").exists());
}

#[test]
fn clone_with_estimated_sizes_never_analyzes_the_source() {
    // No autovacuum: it would set `never`'s relpages behind the test's back.
    let src = Cluster::start_with(
        &support::pgbin(),
        &[("log_statement", "mod"), ("autovacuum", "off")],
    );
    let tgt = Cluster::start();
    src.create_db("est");
    src.psql("est", support::SIZES_FIXTURE);
    tgt.create_db("est");
    let (analyzed, analyzed_exact) = src.table_sizes("est", "public.analyzed", true);
    let (never, never_exact) = src.table_sizes("est", "public.never", false);
    // The two ways of sizing tell the tables apart the opposite way round.
    assert_eq!(never, 0);
    assert!(never_exact > analyzed_exact && analyzed > 0);
    assert_ne!(analyzed, analyzed_exact);

    let maintenance = src.manual_maintenance_count("est");
    let before = src.log_len();
    let dir = workdir();
    let out = clone(
        &src,
        &tgt,
        "est",
        dir.path(),
        &["--estimate-table-sizes", "--skip-analyze", "--notice"],
    );
    verify::assert_equal(&src, "est", &tgt, "est");
    src.assert_no_statements_since(before);
    assert_eq!(
        src.manual_maintenance_count("est"),
        maintenance,
        "the source was vacuumed or analyzed"
    );
    // --notice is -v: pgcopydb's own debug messages show.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG"), "{stderr}");

    // The run sized its tables by the estimate.
    let doc = support::list_progress(dir.path());
    let expected = |label: &str| {
        doc["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["kind"] == "table" && u["label"] == label)
            .unwrap_or_else(|| panic!("no table unit {label}: {doc:#}"))["expected_bytes"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(expected("public.analyzed"), analyzed);
    assert_eq!(expected("public.never"), 0);
}
