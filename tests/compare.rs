//! `compare data` and `compare schema` against real PostgreSQL 15 servers:
//! a target built from the source with `pg_dump | psql` compares equal (exit
//! 0); the same target, deliberately corrupted, is caught object by object
//! (exit 12, each damaged object named).

// A test may panic on an unexpected answer (clippy.toml forbids it in src/).
#![allow(clippy::disallowed_methods)]

use std::process::Command;

use crate::support::Cluster;
use pgcopydb::compare::{compare_data, Status};
use pgcopydb::connections::Endpoints;
use pgcopydb::filters::Filters;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pgcopydb(args: &[&str], source: &str, target: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgcopydb"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PGCOPYDB_") || k.starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .args(["--source", source, "--target", target])
        .output()
        .expect("run pgcopydb");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The table row for `object` in a rendered data report.
fn row<'a>(run: &'a Run, object: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.contains(&format!("| {object} ")))
        .unwrap_or_else(|| panic!("no row for {object} in:\n{}", run.stdout))
}

fn setup() -> (Cluster, Cluster) {
    let (source, target) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    for c in [&source, &target] {
        c.psql("postgres", "CREATE ROLE app; CREATE ROLE reader");
    }
    // Different database names: compare must not care.
    source.psql("postgres", "CREATE DATABASE src");
    target.psql("postgres", "CREATE DATABASE dst");
    source.psql("src", include_str!("fixtures/compare.sql"));
    source.dump_into("src", &target, "dst");
    // Database-level settings are not in a plain pg_dump; pgcopydb copies them.
    for (c, db) in [(&source, "src"), (&target, "dst")] {
        c.psql(db, &format!("ALTER DATABASE {db} SET work_mem = '8MB'"));
        c.psql(
            db,
            &format!("ALTER ROLE reader IN DATABASE {db} SET search_path = app"),
        );
    }
    (source, target)
}

#[test]
fn compare_passes_on_equal_copy_and_catches_each_corruption() {
    let (source, target) = setup();
    let (src, dst) = (source.uri("src"), target.uri("dst"));
    let workdir = tempfile::tempdir().unwrap();
    let dir = workdir.path().to_str().unwrap();

    // An equal target passes both compares.
    let data = pgcopydb(&["compare", "data", "--dir", dir], &src, &dst);
    assert_eq!(data.code, 0, "{}\n{}", data.stdout, data.stderr);
    assert!(row(&data, "table public.customers").contains("| equal"));
    assert!(row(&data, "table public.empty_shape").contains("| 3 "));
    assert!(row(&data, "table public.measures_2024").contains("| equal"));
    assert!(data.stdout.contains("objects are equal"), "{}", data.stdout);
    let schema = pgcopydb(&["compare", "schema"], &src, &dst);
    eprintln!("{}{}", schema.stdout, schema.stderr);
    assert_eq!(schema.code, 0, "{}\n{}", schema.stdout, schema.stderr);
    let saved = std::fs::read_to_string(workdir.path().join("compare-data.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert!(json["tables"].as_array().unwrap().len() >= 6);

    library_api_honours_the_snapshot(&source, &src, &dst);

    // Corrupt the target, one object per kind of damage.
    target.psql(
        "dst",
        "DELETE FROM orders WHERE id = 17;
         UPDATE customers SET ratio = ratio + 1e-9 WHERE id = 42;
         UPDATE measures SET value = 0 WHERE at = '2024-03-01';
         SELECT setval('invoice_no', 5000);
         SELECT lo_put(424242, 0, 'J');
         DROP INDEX orders_note_idx;
         ALTER TABLE customers ALTER COLUMN name SET DEFAULT 'nobody';
         REVOKE SELECT ON customers FROM reader;
         DROP TRIGGER orders_audit ON orders;
         DROP TABLE app.audit;",
    );

    target.psql(
        "dst",
        "CREATE OR REPLACE FUNCTION app.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END
$$",
    );

    let data = pgcopydb(&["compare", "data"], &src, &dst);
    eprintln!("{}{}", data.stdout, data.stderr);
    assert_eq!(data.code, 12, "{}\n{}", data.stdout, data.stderr);
    for (object, status) in [
        ("table public.orders", "row count differs"),
        ("table public.customers", "checksum differs"),
        ("table public.measures_2024", "checksum differs"),
        ("sequence public.invoice_no", "value differs"),
        ("large objects", "oid 424242"),
        ("table app.audit", "missing on target"),
        ("sequence app.audit_id_seq", "missing on target"),
    ] {
        let line = row(&data, object);
        assert!(line.starts_with("| !"), "{object} not marked: {line}");
        assert!(line.contains(status), "{object}: {line}");
    }
    assert!(row(&data, "table public.measures_2023").contains("| equal"));
    assert!(
        data.stdout.contains("compare data: 7 of "),
        "{}",
        data.stdout
    );
    assert!(data.stderr.contains("objects differ"), "{}", data.stderr);

    let json = pgcopydb(&["compare", "data", "--json"], &src, &dst);
    assert_eq!(json.code, 12);
    // The original's array, our large objects as an item of their kind.
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let items = doc.as_array().expect("an array");
    let lo = items.iter().find(|i| i["kind"] == "large objects").unwrap();
    assert_eq!(lo["differing"][0], 424242);

    let schema = pgcopydb(&["compare", "schema"], &src, &dst);
    eprintln!("{}{}", schema.stdout, schema.stderr);
    assert_eq!(schema.code, 12, "{}\n{}", schema.stdout, schema.stderr);
    for expected in [
        "! missing on target: index public.orders_note_idx",
        "! different: column public.customers.name default: source \"'anonymous'::text\", \
         target \"'nobody'::text\"",
        "! different: table public.customers acl:",
        "! missing on target: trigger public.orders.orders_audit",
        "! different: function app.log_order() definition: line 6: source \"    INSERT INTO \
         app.audit (what) VALUES ('order ' || NEW.id);\", target \"    RETURN NULL;\"",
        "! missing on target: table app.audit\n",
        "! missing on target: sequence app.audit_id_seq\n",
    ] {
        assert!(
            schema.stdout.contains(expected),
            "{expected}\nin:\n{}",
            schema.stdout
        );
    }
    assert!(
        schema.stdout.contains("compare schema: 7 of "),
        "{}",
        schema.stdout
    );
    // The missing table's columns, index and constraint are not listed again.
    assert!(
        !schema.stdout.contains("app.audit.what"),
        "{}",
        schema.stdout
    );

    // Owners and privileges can be left out, for clones made with --no-acl.
    let no_acl = pgcopydb(&["compare", "schema", "--no-acl"], &src, &dst);
    assert!(!no_acl.stdout.contains(" acl:"), "{}", no_acl.stdout);
}

/// `compare_data` as `clone --verify` calls it: reading the source under a
/// snapshot exported earlier sees the source as it was then.
fn library_api_honours_the_snapshot(source: &Cluster, src: &str, dst: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let endpoints = Endpoints::new(Some(src), Some(dst)).unwrap();
        let (holder, conn) = tokio_postgres::connect(src, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        holder
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        let snapshot: String = holder
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .unwrap()
            .get(0);
        source.psql("src", "INSERT INTO empty_shape SELECT");

        let then = compare_data(&endpoints, Some(&snapshot), 2, &Filters::default())
            .await
            .unwrap();
        assert!(then.is_equal(), "{}", then.render());
        let now = compare_data(&endpoints, None, 2, &Filters::default())
            .await
            .unwrap();
        assert!(!now.is_equal());
        let differing: Vec<_> = now
            .tables
            .iter()
            .filter(|t| t.status != Status::Equal)
            .map(|t| (t.table.as_str(), t.status))
            .collect();
        assert_eq!(differing, [("public.empty_shape", Status::RowCountDiffers)]);
        assert!(now.render().contains("compare data: 1 of "));
    });
    source.psql(
        "src",
        "DELETE FROM empty_shape; INSERT INTO empty_shape SELECT FROM generate_series(1, 3)",
    );
}
