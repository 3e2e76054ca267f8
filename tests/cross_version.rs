//! Clones across PostgreSQL major versions, each checked by the independent
//! verifier, and the choice of `pg_dump`/`pg_restore` they depend on:
//! - 13 → 15: PostgreSQL 13 from npm (server only) as the source, Debian's 15
//!   as the target; PostgreSQL 18's tools are on PATH too and must not be
//!   picked (pg_restore 18 emits settings a 15 server rejects);
//! - 15 → 18: PostgreSQL 18 from PyPI (server and tools), its pg_dump and
//!   pg_restore found through PATH or PGCOPYDB_PG_BINDIR;
//! - 18 → 15 with only PostgreSQL 15 tools: a refusal naming both versions.
//!
//! The installations come from `scripts/fetch-postgres 13` and `... 18`, named
//! by `PGCOPYDB_TEST_PG13_BIN` and `PGCOPYDB_TEST_PG18_BIN` (.ci/run sets them);
//! PostgreSQL 15 is `PGCOPYDB_TEST_PGBIN` as in every other test.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{fixture, pgcopydb, verify, workdir, Cluster};

/// The bin directory of the fetched PostgreSQL `major`: `PGCOPYDB_TEST_PG<major>_BIN`,
/// else where `scripts/fetch-postgres` puts it by default. Fails (never skips)
/// when neither holds one, saying how to fetch it.
pub(crate) fn fetched_bin(major: u32) -> PathBuf {
    let var = format!("PGCOPYDB_TEST_PG{major}_BIN");
    let how = format!(
        "run `scripts/fetch-postgres {major}` (it prints the directory) and \
         export {var}=<that directory>"
    );
    if let Some(dir) = std::env::var_os(&var).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("postgres").is_file() && dir.join("initdb").is_file(),
            "{var}={} holds no PostgreSQL server: {how}",
            dir.display()
        );
        return dir;
    }
    let mut roots = Vec::new();
    if let Some(root) = std::env::var_os("PGCOPYDB_TEST_PGROOT") {
        roots.push(PathBuf::from(root));
    }
    roots.push(PathBuf::from("/opt/pgcopydb-test"));
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".cache/pgcopydb-test"));
    }
    roots
        .iter()
        .map(|r| r.join(format!("pg{major}/bin")))
        .find(|d| d.join("postgres").is_file() && d.join("initdb").is_file())
        .unwrap_or_else(|| panic!("PostgreSQL {major} is needed and {var} is not set: {how}"))
}

/// Start a cluster of `bindir` and check that it is of `major`.
fn start(bindir: &Path, major: u32) -> Cluster {
    let c = Cluster::start_with(bindir, &[]);
    assert_eq!(
        c.major(),
        major,
        "the server in {} is not PostgreSQL {major}",
        bindir.display()
    );
    c
}

/// The directory `pgcopydb` reports for the tools of `bindir` (symlinks resolved).
fn canonical_tools_dir(bindir: &Path) -> PathBuf {
    std::fs::canonicalize(bindir.join("pg_dump"))
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A PATH holding `dirs` then the system directories, nothing from the caller.
fn path_of(dirs: &[&Path]) -> String {
    let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    parts.push("/usr/local/bin:/usr/bin:/bin".into());
    parts.join(":")
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("run pgcopydb")
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `pgcopydb ping` with `env`; asserts success and that the chosen tools are of
/// `major`, in `tools_dir`.
fn assert_ping_picks(
    src: &Cluster,
    tgt: &Cluster,
    env: &[(&str, String)],
    major: u32,
    tools_dir: &Path,
) {
    let mut cmd = pgcopydb();
    cmd.args(["ping", "--source", &src.uri("postgres")])
        .args(["--target", &tgt.uri("postgres")])
        .env("PATH", path_of(&[]));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd);
    assert!(out.status.success(), "ping failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tools = stdout
        .lines()
        .find(|l| l.starts_with("tools"))
        .unwrap_or_else(|| panic!("no tools line: {}", text(&out)));
    let want = format!("pg_dump/pg_restore {major}.");
    assert!(
        tools.contains(&want),
        "expected {want} for PostgreSQL {} -> {}, got: {tools}",
        src.major(),
        tgt.major()
    );
    assert!(
        tools.ends_with(&format!(" in {}", tools_dir.display())),
        "expected the tools of {}, got: {tools}",
        tools_dir.display()
    );
    assert!(
        stdout.contains(&format!("PostgreSQL {}.", src.major()))
            && stdout.contains(&format!("PostgreSQL {}.", tgt.major())),
        "ping must report both server versions: {stdout}"
    );
}

/// `pgcopydb clone` of `db` with `env`, then the independent verification.
fn clone_and_verify(src: &Cluster, tgt: &Cluster, db: &str, env: &[(&str, String)]) {
    let dir = workdir();
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--source", &src.uri(db), "--target", &tgt.uri(db)])
        .arg("--dir")
        .arg(dir.path())
        .env("PATH", path_of(&[]));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd);
    assert!(
        out.status.success(),
        "clone of {db} from PostgreSQL {} into {} failed: {}",
        src.major(),
        tgt.major(),
        text(&out)
    );
    verify::assert_equal(src, db, tgt, db);
}

/// Whether the server installation in `bindir` has the contrib extensions that
/// tests/fixtures/coverage.sql needs.
fn has_coverage_extensions(bindir: &Path) -> bool {
    let out = Command::new(bindir.join("pg_config"))
        .arg("--sharedir")
        .output()
        .ok()
        .filter(|o| o.status.success());
    // The npm builds have no pg_config: their share directory sits beside bin.
    let share = match out {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        None => bindir.join("../share/postgresql"),
    };
    ["hstore", "pg_trgm", "btree_gist", "citext", "uuid-ossp"]
        .iter()
        .all(|e| share.join(format!("extension/{e}.control")).is_file())
}

#[test]
fn pg13_source_into_pg15_target_demo() {
    let pg13 = fetched_bin(13);
    let pg18 = fetched_bin(18);
    let pg15 = support::pgbin();
    let src = start(&pg13, 13);
    let tgt = start(&pg15, 15);
    src.load_demo("demo");
    tgt.create_db("demo");
    // PostgreSQL 18's tools come first on PATH, yet the target's (15) must be
    // chosen: pg_restore 18 would send settings a 15 server rejects.
    let path = [("PATH", path_of(&[&pg18, &pg15]))];
    assert_ping_picks(&src, &tgt, &path, 15, &canonical_tools_dir(&pg15));
    clone_and_verify(&src, &tgt, "demo", &path);

    // PostgreSQL 15 creates `public` owned by pg_database_owner and without
    // CREATE for PUBLIC; a 13 database's `public` keeps its owner and
    // privileges through a dump and restore, and so through a clone.
    let public = "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace \
                  WHERE nspname = 'public'";
    assert_eq!(src.psql("demo", public), tgt.psql("demo", public));
}

#[test]
fn pg13_source_into_pg15_target_fixtures() {
    let pg13 = fetched_bin(13);
    let pg15 = support::pgbin();
    let src = start(&pg13, 13);
    let tgt = start(&pg15, 15);
    let env = [("PATH", path_of(&[&pg15]))];

    src.create_db("xv");
    src.load_sql_file("xv", &fixture("cross_version.sql"));
    tgt.create_db("xv");
    clone_and_verify(&src, &tgt, "xv", &env);

    // The full coverage fixture needs contrib extensions on both sides.
    if has_coverage_extensions(&pg13) && has_coverage_extensions(&pg15) {
        src.create_db("cov");
        src.load_sql_file("cov", &fixture("coverage.sql"));
        tgt.load_sql_file("postgres", &fixture("roles.sql"));
        tgt.create_db("cov");
        clone_and_verify(&src, &tgt, "cov", &env);
    } else {
        eprintln!(
            "note: coverage.sql not cloned: {} or {} lacks its contrib extensions",
            pg13.display(),
            pg15.display()
        );
    }
}

#[test]
fn pg15_source_into_pg18_target_with_tools_from_path() {
    let pg18 = fetched_bin(18);
    let pg15 = support::pgbin();
    let src = start(&pg15, 15);
    let tgt = start(&pg18, 18);
    src.load_demo("demo");
    tgt.create_db("demo");
    let path = [("PATH", path_of(&[&pg15, &pg18]))];
    assert_ping_picks(&src, &tgt, &path, 18, &canonical_tools_dir(&pg18));
    clone_and_verify(&src, &tgt, "demo", &path);
}

#[test]
fn pg15_source_into_pg18_target_with_pg_bindir() {
    let pg18 = fetched_bin(18);
    let pg15 = support::pgbin();
    let src = start(&pg15, 15);
    let tgt = start(&pg18, 18);
    src.create_db("xv");
    src.load_sql_file("xv", &fixture("cross_version.sql"));
    tgt.create_db("xv");
    // PostgreSQL 15 tools on PATH; the explicit directory replaces the search.
    let env = [
        ("PATH", path_of(&[&pg15])),
        ("PGCOPYDB_PG_BINDIR", pg18.display().to_string()),
    ];
    assert_ping_picks(&src, &tgt, &env, 18, &canonical_tools_dir(&pg18));
    clone_and_verify(&src, &tgt, "xv", &env);

    // Comparing the schema with the source as PostgreSQL 18 restores it hides
    // presentation only: real differences are still caught.
    tgt.psql(
        "xv",
        "DROP INDEX xv.indexed_partial;
         ALTER TABLE xv.typed ALTER COLUMN m SET DEFAULT 'sad';
         ALTER TABLE xv.indexed DROP CONSTRAINT score_small;
         CREATE OR REPLACE VIEW xv.happy_rows AS SELECT id, t FROM xv.typed WHERE m = 'sad';
         DELETE FROM xv.serials WHERE id = 7;
         SELECT setval('xv.standalone', 1);",
    );
    let diffs = verify::differences(&src, "xv", &tgt, "xv");
    let all = diffs.join("\n");
    for needle in [
        "index (source PostgreSQL 15 as restored on PostgreSQL 18) xv.indexed.indexed_partial: missing on target",
        "constraint (source PostgreSQL 15 as restored on PostgreSQL 18) xv.indexed.score_small: missing on target",
        "Name: typed; Type: TABLE; Schema: xv",
        "Name: happy_rows; Type: VIEW; Schema: xv",
        "table xv.serials:",
        "sequence xv.standalone:",
    ] {
        assert!(all.contains(needle), "{needle} not reported; got:\n{all}");
    }
}

#[test]
fn pg18_source_with_only_pg15_tools_is_refused() {
    let pg18 = fetched_bin(18);
    let pg15 = support::pgbin();
    let src = start(&pg18, 18);
    let tgt = start(&pg15, 15);
    src.create_db("refuse");
    src.psql("refuse", "CREATE TABLE t (id int PRIMARY KEY)");
    tgt.create_db("refuse");
    let env = [
        ("PATH", path_of(&[&pg18])),
        ("PGCOPYDB_PG_BINDIR", pg15.display().to_string()),
    ];

    for command in [&["ping"][..], &["clone"][..]] {
        let dir = workdir();
        let mut cmd = pgcopydb();
        cmd.args(command).args([
            "--source",
            &src.uri("refuse"),
            "--target",
            &tgt.uri("refuse"),
        ]);
        if command == ["clone"] {
            cmd.arg("--dir").arg(dir.path());
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(cmd);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command:?} must refuse with exit code 2: {}",
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("PostgreSQL 18") && stderr.contains("pg_dump 15."),
            "{command:?}: the refusal must name the source's version (18) and the tools \
             found (15): {}",
            text(&out)
        );
        assert!(
            !stderr.contains(Cluster::PASSWORD),
            "password in the output: {stderr}"
        );
    }
    // With PostgreSQL 18's tools the copy is possible; ping picks them and
    // warns that they are newer than the target.
    let mut cmd = pgcopydb();
    cmd.args(["ping", "--source", &src.uri("refuse")])
        .args(["--target", &tgt.uri("refuse")])
        .env("PATH", path_of(&[&pg15]))
        .env("PGCOPYDB_PG_BINDIR", &pg18);
    let out = run(cmd);
    assert!(out.status.success(), "ping failed: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pg_dump/pg_restore 18."),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("newer than the target server (PostgreSQL 15)"),
        "ping must warn that the tools are newer than the target: {}",
        text(&out)
    );

    // Nothing reached the target.
    assert_eq!(
        tgt.psql(
            "refuse",
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public'"
        ),
        "0"
    );
}

/// What a follow across versions must carry: a key, an identity FULL table
/// without one, a unique-index identity, TOASTed values.
const FOLLOW_SCHEMA: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE uniq (code text NOT NULL, v int);
CREATE UNIQUE INDEX uniq_code ON uniq (code);
ALTER TABLE uniq REPLICA IDENTITY USING INDEX uniq_code;
CREATE TABLE docs (id int PRIMARY KEY, tag int, body text);
INSERT INTO accounts SELECT g, g, 'initial' FROM generate_series(1, 1000) g;
INSERT INTO nokey VALUES (1, 'a'), (1, 'a'), (2, 'b');
INSERT INTO uniq SELECT 'c' || g, g FROM generate_series(1, 50) g;
INSERT INTO docs SELECT g, 0, repeat(md5(g::text), 3000) FROM generate_series(1, 10) g;
";

/// One round of the small DML load (one transaction per statement, and one
/// of several statements).
fn follow_round(i: u32) -> String {
    let base = 10_000 + i * 20;
    format!(
        "INSERT INTO accounts SELECT g, g, 'round {i}' FROM generate_series({base}, {base} + 9) g;
         UPDATE accounts SET balance = balance + 1 WHERE id % 11 = {m11};
         DELETE FROM accounts WHERE id = {base} + 3;
         BEGIN;
         INSERT INTO nokey VALUES ({i}, 'r{i}');
         UPDATE uniq SET v = v + 1 WHERE code = 'c{m50}';
         UPDATE docs SET tag = tag + 1 WHERE id = {m10};
         COMMIT;
         DELETE FROM nokey WHERE a = {i} - 3;",
        m11 = i % 11,
        m50 = i % 50 + 1,
        m10 = i % 10 + 1,
    )
}

/// `clone --follow --plugin plugin` from `src` into `tgt` while the load
/// runs, then endpos at the source's position: exit 0, and the verifier
/// finds both equal.
fn clone_follow_and_verify(src: &Cluster, tgt: &Cluster, plugin: &str, env: &[(&str, String)]) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use support::follow;
    let db = format!("follow_{plugin}");
    src.create_db(&db);
    tgt.create_db(&db);
    src.psql(&db, FOLLOW_SCHEMA);
    let dir = workdir();
    let stop = AtomicBool::new(false);
    let slot = ["--plugin", plugin, "--slot-name", &db, "--origin", &db];
    std::thread::scope(|s| {
        let _stop_load = follow::StopLoad(&stop);
        let load = s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                src.psql(&db, &follow_round(i));
                i += 1;
            }
            i
        });
        let mut cmd = follow::command(&["clone", "--follow"], src, tgt, &db, dir.path());
        cmd.args(slot);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start clone --follow");
        follow::wait_for("the copy is done", &mut child, || {
            follow::applying(dir.path())
        });
        follow::wait_for("transactions are applied", &mut child, || {
            follow::progress(dir.path())
                .and_then(|c| c["transactions"].as_u64())
                .is_some_and(|n| n > 5)
        });
        stop.store(true, Ordering::SeqCst);
        assert!(load.join().expect("load thread") > 0);
        follow::set_endpos_current(src, &db, dir.path());
        let out = follow::wait_exit(child, dir.path());
        assert!(
            out.status.success() && text(&out).contains("endpos reached"),
            "clone --follow --plugin {plugin} from PostgreSQL {} into {}: {}",
            src.major(),
            tgt.major(),
            text(&out)
        );
    });
    follow::cleanup_and_verify(src, tgt, &db, dir.path());
}

fn start_logical(bindir: &Path, major: u32) -> Cluster {
    let c = support::follow::logical_cluster(bindir);
    assert_eq!(c.major(), major, "the server in {}", bindir.display());
    c
}

#[test]
fn pg13_source_followed_into_pg15_target_with_each_plugin() {
    let pg13 = fetched_bin(13);
    let pg15 = support::pgbin();
    let src = start_logical(&pg13, 13);
    let tgt = start(&pg15, 15);
    let env = [("PATH", path_of(&[&pg15]))];
    for plugin in ["pgoutput", "test_decoding"] {
        clone_follow_and_verify(&src, &tgt, plugin, &env);
    }
}

#[test]
fn pg15_source_followed_into_pg18_target() {
    let pg18 = fetched_bin(18);
    let pg15 = support::pgbin();
    let src = start_logical(&pg15, 15);
    let tgt = start(&pg18, 18);
    let env = [("PATH", path_of(&[&pg15, &pg18]))];
    clone_follow_and_verify(&src, &tgt, "pgoutput", &env);
}

/// On a PostgreSQL 13 source (no TID range scan: a ctid range reads the
/// whole table) `list table-parts` plans what the clone does: a table with
/// an integer key split by key, one without left whole, never by ctid.
#[test]
fn pg13_source_table_parts_are_planned_as_the_clone_plans_them() {
    let pg13 = fetched_bin(13);
    let src = start(&pg13, 13);
    let tgt = Cluster::start();
    src.create_db("parts");
    src.psql(
        "parts",
        "CREATE TABLE keyed (id int PRIMARY KEY, v text);
         INSERT INTO keyed SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
         CREATE TABLE keyless (v text);
         INSERT INTO keyless SELECT repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;",
    );
    tgt.create_db("parts");
    let out = run({
        let mut cmd = pgcopydb();
        cmd.args(["list", "table-parts", "--split-at", "1MB", "--json"])
            .args(["--source", &src.uri("parts")]);
        cmd
    });
    assert!(out.status.success(), "list table-parts: {}", text(&out));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let plan = |name: &str| {
        plans
            .as_array()
            .expect("a JSON array")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no plan for {name}: {plans:#}"))
            .clone()
    };
    assert_eq!(plan("keyed")["method"], "key", "{plans:#}");
    assert_eq!(plan("keyless")["method"], "none", "{plans:#}");
    let keyed_parts = plan("keyed")["parts"].as_array().expect("parts").len();
    assert!(keyed_parts > 1, "{plans:#}");

    let dir = workdir();
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--split-at", "1MB"])
        .args(["--source", &src.uri("parts"), "--target", &tgt.uri("parts")])
        .arg("--dir")
        .arg(dir.path());
    let out = run(cmd);
    let log = text(&out);
    assert!(out.status.success(), "clone: {log}");
    assert!(
        log.contains(&format!("public.keyed is copied in {keyed_parts} parts")),
        "{log}"
    );
    assert!(!log.contains("public.keyless is copied in"), "{log}");
    verify::assert_equal(&src, "parts", &tgt, "parts");
}
