//! Tests of the test support itself: the throwaway clusters, and the verifier
//! against a pg_dump | pg_restore copy of the coverage fixture (no differences)
//! and against deliberate corruptions (each one found).

use crate::support;

use crate::support::{verify, Cluster};

#[test]
fn cluster_basics() {
    let c = Cluster::start();
    assert_eq!(
        c.major(),
        c.psql("postgres", "SHOW server_version_num")
            .parse::<u32>()
            .unwrap()
            / 10000
    );
    assert_eq!(c.psql("postgres", "SELECT 1; SELECT 2"), "1\n2");
    assert!(c
        .try_psql("postgres", "SELECT * FROM no_such_table")
        .unwrap_err()
        .contains("no_such_table"));
    c.create_db("with space");
    assert_eq!(
        c.psql("with space", "SELECT current_database()"),
        "with space"
    );

    // TCP needs the password (scram-sha-256); the socket is trust.
    let with_pw = support::pg_client(&c.bindir, "psql")
        .args(["-X", "-At", "-w", "-c", "SELECT current_user"])
        .arg(c.uri("postgres"))
        .output()
        .unwrap();
    assert!(
        with_pw.status.success(),
        "{}",
        String::from_utf8_lossy(&with_pw.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&with_pw.stdout).trim(), "postgres");
    let without_pw = support::pg_client(&c.bindir, "psql")
        .args(["-X", "-At", "-w", "-c", "SELECT 1"])
        .arg(c.uri_without_password("postgres"))
        .output()
        .unwrap();
    assert!(!without_pw.status.success());
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'postgres'"
        ),
        "t"
    );

    // Rows with any text survive query().
    let rows = c.query(
        "postgres",
        "SELECT E'a\\nb\\tc', NULL, '' UNION ALL SELECT 'x', 'y', 'z'",
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("a\nb\tc".to_string()), None, Some(String::new())],
            vec![Some("x".into()), Some("y".into()), Some("z".into())]
        ]
    );

    // ICU collations can be created.
    c.psql(
        "postgres",
        "CREATE COLLATION de_icu (provider = icu, locale = 'de-DE')",
    );

    c.stop();
    assert!(!c.is_running());
    assert!(c.try_psql("postgres", "SELECT 1").is_err());
    c.restart();
    assert_eq!(c.psql("with space", "SELECT 42"), "42");
    assert!(std::fs::read_to_string(c.log_path())
        .unwrap()
        .contains("ready to accept connections"));
}

/// pg_dump -Fc of `db` on `src`, pg_restore --create into `tgt`.
fn dump_restore(src: &Cluster, db: &str, tgt: &Cluster) {
    let work = support::workdir();
    let file = work.path().join("dump.custom");
    let out = src
        .client("pg_dump")
        .args(["-Fc", "-d", db, "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tgt
        .client("pg_restore")
        .args(["--create", "--exit-on-error", "-d", "postgres"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The coverage database on a source, and a pg_dump | pg_restore copy of it.
fn coverage_copy() -> (Cluster, Cluster) {
    let src = Cluster::start();
    src.create_db("coverage");
    src.load_sql_file("coverage", &support::fixture("coverage.sql"));
    let tgt = Cluster::start();
    tgt.load_sql_file("postgres", &support::fixture("roles.sql"));
    dump_restore(&src, "coverage", &tgt);
    (src, tgt)
}

#[test]
fn dump_restore_copy_of_coverage_has_no_differences() {
    let (src, tgt) = coverage_copy();
    // The fixture really holds what the verifier compares.
    let n = |sql: &str| src.psql("coverage", sql).parse::<i64>().unwrap();
    assert!(n("SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace::regnamespace::text LIKE '%cov%'") > 50);
    assert_eq!(n("SELECT count(*) FROM pg_largeobject_metadata"), 4);
    assert!(n("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'coverage'") >= 2);
    assert_eq!(
        n("SELECT count(*) FROM pg_matviews WHERE NOT ispopulated"),
        1
    );
    verify::assert_equal(&src, "coverage", &tgt, "coverage");
}

#[test]
fn verifier_reports_differences_from_an_empty_database() {
    let src = Cluster::start();
    src.create_db("coverage");
    src.load_sql_file("coverage", &support::fixture("coverage.sql"));
    let tgt = Cluster::start();
    tgt.create_db("coverage");
    let diffs = verify::differences(&src, "coverage", &tgt, "coverage");
    let has = |needle: &str| diffs.iter().any(|d| d.contains(needle));
    assert!(has("table cov.big: missing on target"), "{diffs:#?}");
    assert!(has("large object 424203: missing on target"), "{diffs:#?}");
    assert!(
        has("sequence cov.seq_custom: missing on target"),
        "{diffs:#?}"
    );
    assert!(
        has("database setting for all roles: missing on target"),
        "{diffs:#?}"
    );
    assert!(
        has("index cov.big.big_pkey: missing on target"),
        "{diffs:#?}"
    );
    assert!(
        has("constraint cov.checked.checked_price_positive: missing on target"),
        "{diffs:#?}"
    );
    assert!(
        has("materialized view cov.mv_nodata: missing on target"),
        "{diffs:#?}"
    );
    assert!(has("schema dump entry Name: big; Type: TABLE; Schema: cov; Owner: postgres: missing on target"), "{diffs:#?}");
}

#[test]
fn verifier_finds_each_corruption() {
    let (src, tgt) = coverage_copy();
    let corruptions: &[(&str, &str, &str)] = &[
        (
            "deleted row",
            "DELETE FROM cov.nopk WHERE ctid = (SELECT ctid FROM cov.nopk WHERE a = 1 LIMIT 1)",
            "table cov.nopk: source has rows=6",
        ),
        (
            "changed value",
            "UPDATE cov.texts SET t = E'tab\\there ' WHERE id = 2",
            "table cov.texts: source has rows=",
        ),
        (
            "changed value in a leaf partition",
            "UPDATE cov.events SET body = body || '{\"x\": 1}' WHERE id = 1500",
            "table cov.events_2024_",
        ),
        (
            "dropped index",
            "DROP INDEX cov.many_idx_gist",
            "index cov.many_idx.many_idx_gist: missing on target",
        ),
        (
            "changed sequence",
            "SELECT setval('cov.seq_custom', 1)",
            "sequence cov.seq_custom: source has last_value=-2 is_called=true, target has last_value=1 is_called=true",
        ),
        (
            "sequence not called",
            "SELECT setval('cov.seq_not_called', 42, true)",
            "sequence cov.seq_not_called: source has last_value=42 is_called=false",
        ),
        (
            "missing large object",
            "SELECT lo_unlink(424203)",
            "large object 424203: missing on target",
        ),
        (
            "database setting",
            "ALTER DATABASE coverage RESET work_mem",
            "database setting for all roles: source has settings={\"DateStyle=SQL, DMY\",TimeZone=Pacific/Chatham,work_mem=7MB}, target has settings={\"DateStyle=SQL, DMY\",TimeZone=Pacific/Chatham}",
        ),
        (
            "constraint made not deferrable",
            "ALTER TABLE cov.chicken ALTER CONSTRAINT chicken_egg_fk NOT DEFERRABLE",
            "constraint cov.chicken.chicken_egg_fk: source has def=FOREIGN KEY (egg_id) REFERENCES cov.egg(id) DEFERRABLE INITIALLY DEFERRED validated=true deferrable=true deferred=true",
        ),
        (
            "materialized view populated",
            "REFRESH MATERIALIZED VIEW cov.mv_nodata",
            "materialized view cov.mv_nodata: source has populated=false, target has populated=true",
        ),
        (
            "comment changed",
            "COMMENT ON TABLE cov.nocols IS 'changed'",
            "schema dump entry Name: TABLE nocols; Type: COMMENT; Schema: cov; Owner: postgres: source has COMMENT ON TABLE cov.nocols IS 'zero columns, three rows';, target has COMMENT ON TABLE cov.nocols IS 'changed';",
        ),
    ];
    for (what, sql, _) in corruptions {
        tgt.try_psql("coverage", sql)
            .unwrap_or_else(|e| panic!("corruption {what}: {e}"));
    }
    let diffs = verify::differences(&src, "coverage", &tgt, "coverage");
    for (what, _, expected) in corruptions {
        assert!(
            diffs.iter().any(|d| d.contains(expected)),
            "corruption '{what}' not reported as '{expected}'; differences:\n{}",
            diffs.join("\n")
        );
    }
    // Nothing but the corrupted objects is reported.
    let objects = [
        "nopk",
        "texts",
        "events_2024_",
        "many_idx_gist",
        "seq_custom",
        "seq_not_called",
        "424203",
        "for all roles",
        "chicken_egg_fk",
        "mv_nodata",
        "nocols",
    ];
    for d in &diffs {
        assert!(
            objects.iter().any(|o| d.contains(o)),
            "unexpected difference reported: {d}\nall:\n{}",
            diffs.join("\n")
        );
    }
}

#[test]
fn dump_restore_copy_of_the_demo_has_no_differences() {
    let src = Cluster::start();
    src.load_demo("demo");
    assert_eq!(
        src.psql("demo", "SELECT count(*) FROM sales.order_line"),
        "40000"
    );
    let tgt = Cluster::start();
    dump_restore(&src, "demo", &tgt);
    verify::assert_equal(&src, "demo", &tgt, "demo");
    // And a change is seen.
    tgt.psql(
        "demo",
        "UPDATE shop.store SET network = '10.99.0.0/16' WHERE store_id = 1",
    );
    let diffs = verify::differences(&src, "demo", &tgt, "demo");
    assert_eq!(diffs.len(), 1, "{diffs:#?}");
    assert!(
        diffs[0].starts_with("table shop.store: source has rows=20"),
        "{diffs:#?}"
    );
}

/// Servers shared by a run (support::shared): the first handle starts the
/// server, the next attaches to it; each handle's databases are its own under
/// the same names, logged statements are told apart by database, and a
/// handle's databases are dropped with it.
#[test]
fn shared_servers_give_each_handle_databases_of_its_own() {
    use support::shared::{attach_or_start, Side, StopSharedOnDrop};
    let root = tempfile::Builder::new()
        .prefix("pgcopydb-test-selftest-shared-")
        .tempdir()
        .unwrap();
    support::cluster::hand_to_postgres(root.path());
    let _stop = StopSharedOnDrop(root.path().to_path_buf());

    let first = attach_or_start(root.path(), Side::Source);
    let second = attach_or_start(root.path(), Side::Source);
    assert!(first.is_shared() && second.is_shared());
    assert_eq!(first.port, second.port, "the second handle attached");
    first.create_db("app");
    second.create_db("app");
    let (a, b) = (first.db_name("app"), second.db_name("app"));
    assert_ne!(a, b);
    assert_eq!(first.psql("app", "SELECT current_database()"), a);
    assert_eq!(second.psql("app", "SELECT current_database()"), b);
    assert_eq!(first.db_name("postgres"), "postgres");

    // The source logs writes: another handle's are not this one's.
    let from = first.log_len();
    second.psql("app", "CREATE TABLE written (id int)");
    first.assert_no_statements_since(from);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        second.assert_no_statements_since(from)
    }));
    assert!(caught.is_err(), "the write in {b} went unseen");

    // The fixtures' roles are there from the start.
    assert_eq!(
        first.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('cov_reader', 'cov_owner')"
        ),
        "2"
    );

    drop(second);
    let exists = |name: &str| {
        first.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
    };
    assert_eq!(exists(&b), "0", "dropped with its handle");
    assert_eq!(exists(&a), "1");
    // The source and target servers are two initdb's.
    let target = attach_or_start(root.path(), Side::Target);
    let system_id = |c: &Cluster| {
        c.psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system()",
        )
    };
    assert_ne!(system_id(&first), system_id(&target));
}
