//! `pgcopydb list ...` against a real server: each listing's JSON must hold
//! exactly the objects of a small known database, and the readable table
//! must show them too.

use crate::support;

use std::collections::BTreeSet;

use crate::support::{pgcopydb, Cluster};
use serde_json::Value;

const DB: &str = "lists";

/// A database with one of each thing the listings tell apart. `app.big`
/// (integer PK) and `app.events` (no key: ctid split) are a few MB each.
const FIXTURE: &str = r#"
CREATE EXTENSION hstore;
CREATE EXTENSION file_fdw;
CREATE SCHEMA app;
CREATE COLLATION app.c_copy (locale = 'C');
CREATE TABLE app.orders (id bigserial PRIMARY KEY, note text COLLATE "C", attrs hstore);
CREATE INDEX orders_note_idx ON app.orders (note);
CREATE TABLE app.lines (id int PRIMARY KEY, order_id bigint REFERENCES app.orders (id));
CREATE TABLE app.events (at timestamptz, payload text);
CREATE TABLE app.measures (id int, at date, v float8, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.measures_2024 PARTITION OF app.measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.measures_2025 PARTITION OF app.measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.big (id int PRIMARY KEY, filler text);
CREATE TABLE app.ext_member (k text);
ALTER EXTENSION hstore ADD TABLE app.ext_member;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE app.imported (line text) SERVER files OPTIONS (filename '/dev/null');
CREATE VIEW app.recent_orders AS SELECT id FROM app.orders WHERE id > 10;
CREATE MATERIALIZED VIEW app.order_totals AS SELECT count(*) AS n FROM app.orders;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE SEQUENCE app.invoice_no START 1000;
SELECT nextval('app.invoice_no');
INSERT INTO app.orders (note) SELECT 'n' || i FROM generate_series(1, 50) i;
INSERT INTO app.lines SELECT i, i FROM generate_series(1, 50) i;
INSERT INTO app.big SELECT i, repeat('x', 120) FROM generate_series(1, 40000) i;
INSERT INTO app.events SELECT now(), repeat('y', 120) FROM generate_series(1, 30000);
VACUUM ANALYZE;
"#;

/// Run `pgcopydb list <args> --source ...` and return stdout, failing on error.
fn list(c: &Cluster, args: &[&str]) -> String {
    let out = pgcopydb()
        .arg("list")
        .args(args)
        .args(["--source", &c.uri(DB)])
        .output()
        .expect("run pgcopydb");
    assert!(
        out.status.success(),
        "pgcopydb list {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn list_json(c: &Cluster, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = list(c, &args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("list {args:?}: bad JSON ({e}):\n{out}"))
}

/// `schema.name` of every element of a JSON array.
fn labels(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|o| {
            format!(
                "{}.{}",
                o["schema"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn find<'a>(v: &'a Value, label: &str) -> &'a Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|o| {
            format!(
                "{}.{}",
                o["schema"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ) == label
        })
        .unwrap_or_else(|| panic!("{label} not in {v:#}"))
}

/// The readable table: a header, a separator and at least one row naming `needle`.
fn assert_grid(c: &Cluster, args: &[&str], needle: &str) {
    let out = list(c, args);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
    assert!(lines.len() >= 3, "list {args:?}: no table rows:\n{out}");
    assert!(
        out.contains(needle),
        "list {args:?} should show {needle}:\n{out}"
    );
}

const COPIED: &[&str] = &[
    "app.big",
    "app.events",
    "app.lines",
    "app.measures_2024",
    "app.measures_2025",
    "app.orders",
];

#[test]
fn listings_show_exactly_the_source_objects() {
    let c = Cluster::start();
    c.create_db(DB);
    c.psql(DB, FIXTURE);

    check_tables(&c);
    check_table_parts(&c);
    check_server_listings(&c);
    check_sequences_and_indexes(&c);
    check_depends_and_schema(&c);
}

fn check_tables(c: &Cluster) {
    let tables = list_json(c, &["tables"]);
    assert_eq!(labels(&tables), set(COPIED));
    assert_eq!(find(&tables, "app.orders")["has_pkey"], true);
    assert_eq!(find(&tables, "app.events")["has_pkey"], false);
    let big = find(&tables, "app.big");
    assert!(big["bytes"].as_i64().unwrap() > 4 << 20, "{big}");
    assert_eq!(big["estimated_rows"], 40000);

    let no_pk = list_json(c, &["tables", "--without-pkey"]);
    assert_eq!(labels(&no_pk), set(&["app.events"]));

    let skipped = list_json(c, &["tables", "--list-skipped"]);
    assert_eq!(
        labels(&skipped),
        set(&[
            "app.measures",
            "app.order_totals",
            "app.imported",
            "app.ext_member"
        ])
    );
    let reason = |t: &str| find(&skipped, t)["skipped"].as_str().unwrap().to_string();
    assert!(reason("app.measures").contains("partitions are copied"));
    assert!(reason("app.order_totals").contains("materialized view"));
    assert!(reason("app.imported").contains("foreign table"));
    assert!(reason("app.ext_member").contains("extension hstore"));

    assert_grid(c, &["tables"], "measures_2024");
    assert_grid(c, &["tables", "--list-skipped"], "order_totals");
}

fn check_table_parts(c: &Cluster) {
    const MB: i64 = 1 << 20;
    let plans = list_json(c, &["table-parts", "--split-tables-larger-than", "1 MB"]);
    // Exactly the tables of at least 1 MB.
    assert_eq!(labels(&plans), set(&["app.big", "app.events"]));
    for (table, method) in [("app.big", "key"), ("app.events", "ctid")] {
        let plan = find(&plans, table);
        assert_eq!(plan["method"], method, "{plan:#}");
        let parts = plan["parts"].as_array().unwrap();
        let bytes = plan["bytes"].as_i64().unwrap();
        assert_eq!(parts.len() as i64, (bytes + MB - 1) / MB, "{plan:#}");
        assert_ranges_chain(parts);
        assert_parts_read_every_row_once(c, table, parts);
    }
    assert_eq!(find(&plans, "app.big")["split_key"]["column"], "id");

    let capped = list_json(
        c,
        &["table-parts", "--split-at", "1MB", "--split-max-parts", "3"],
    );
    for table in ["app.big", "app.events"] {
        assert_eq!(find(&capped, table)["parts"].as_array().unwrap().len(), 3);
    }
    let no_ctid = list_json(
        c,
        &["table-parts", "--split-at", "1MB", "--skip-split-by-ctid"],
    );
    assert_eq!(find(&no_ctid, "app.events")["method"], "none");
    // The same environment variable as clone's --skip-split-by-ctid.
    let out = pgcopydb()
        .args(["list", "table-parts", "--split-at", "1MB", "--json"])
        .args(["--source", &c.uri(DB)])
        .env("PGCOPYDB_SKIP_CTID_SPLIT", "true")
        .output()
        .expect("run pgcopydb");
    support::assert_success(&out, "list table-parts with PGCOPYDB_SKIP_CTID_SPLIT");
    let from_env: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(find(&from_env, "app.events")["method"], "none");

    assert_grid(c, &["table-parts", "--split-at", "2MB"], "id >= ");
}

/// Half-open ranges: the first unbounded below, the last above, each upper
/// bound the next lower bound.
fn assert_ranges_chain(parts: &[Value]) {
    let bounds: Vec<(Option<i64>, Option<i64>)> = parts
        .iter()
        .map(|p| (p["range"]["from"].as_i64(), p["range"]["to"].as_i64()))
        .collect();
    let first = &parts[0]["range"];
    assert!(
        first["from"].is_null() || first["from"] == 0,
        "first part must start at the beginning: {parts:?}"
    );
    assert!(
        bounds.last().unwrap().1.is_none(),
        "last part must be open: {parts:?}"
    );
    for w in bounds.windows(2) {
        let to = w[0].1.expect("inner upper bound");
        assert_eq!(Some(to), w[1].0, "gap or overlap: {bounds:?}");
        assert!(w[0].0.unwrap_or(i64::MIN) < to, "empty range: {bounds:?}");
    }
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["number"], i + 1);
        assert_eq!(p["total"], parts.len());
    }
}

/// The parts' predicates, run on the server, read every row exactly once.
fn assert_parts_read_every_row_once(c: &Cluster, table: &str, parts: &[Value]) {
    let total: i64 = c
        .psql(DB, &format!("SELECT count(*) FROM {table}"))
        .parse()
        .unwrap();
    let mut sum = 0;
    for p in parts {
        let range = &p["range"];
        let predicate = match range["kind"].as_str().unwrap() {
            "key" => {
                let col = range["column"].as_str().unwrap();
                let lo = range["from"].as_i64().map(|v| format!("{col} >= {v}"));
                let hi = range["to"].as_i64().map(|v| format!("{col} < {v}"));
                [lo, hi]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" AND ")
            }
            "pages" => {
                let lo = format!("ctid >= '({},0)'::tid", range["from"]);
                match range["to"].as_i64() {
                    Some(b) => format!("{lo} AND ctid < '({b},0)'::tid"),
                    None => lo,
                }
            }
            other => panic!("unexpected part kind {other}"),
        };
        let n: i64 = c
            .psql(
                DB,
                &format!("SELECT count(*) FROM {table} WHERE {predicate}"),
            )
            .parse()
            .unwrap();
        assert!(n > 0, "{table}: part {predicate} reads nothing");
        sum += n;
    }
    assert_eq!(sum, total, "{table}: parts read {sum} rows of {total}");
}

fn check_server_listings(c: &Cluster) {
    let dbs = list_json(c, &["databases"]);
    let names: BTreeSet<&str> = dbs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["lists", "postgres"]));
    assert_grid(c, &["databases"], "lists");

    let exts = list_json(c, &["extensions"]);
    let names: BTreeSet<&str> = exts
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["file_fdw", "hstore", "plpgsql"]));
    assert_grid(c, &["extensions"], "hstore");

    let available = list_json(c, &["extensions", "--available-versions"]);
    let hstore = available
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "hstore")
        .expect("hstore available");
    let installed = hstore["installed_version"].as_str().expect("installed");
    let versions: Vec<&str> = hstore["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(versions.contains(&installed), "{hstore}");
    assert!(versions.len() > 1, "{hstore}");
    let trgm = available
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "pg_trgm")
        .expect("pg_trgm available");
    assert!(trgm["installed_version"].is_null());
    assert_grid(c, &["extensions", "--available-versions"], "pg_trgm");

    let collations = list_json(c, &["collations"]);
    assert_eq!(labels(&collations), set(&["app.c_copy", "pg_catalog.C"]));
    assert_eq!(find(&collations, "app.c_copy")["user_defined"], true);
    assert_eq!(find(&collations, "pg_catalog.C")["user_defined"], false);
    assert_grid(c, &["collations"], "c_copy");
}

fn check_sequences_and_indexes(c: &Cluster) {
    let seqs = list_json(c, &["sequences"]);
    assert_eq!(labels(&seqs), set(&["app.invoice_no", "app.orders_id_seq"]));
    let invoice = find(&seqs, "app.invoice_no");
    assert_eq!(invoice["last_value"], 1000);
    assert!(invoice["owned_by"].is_null());
    let serial = find(&seqs, "app.orders_id_seq");
    assert_eq!(serial["owned_by"], "app.orders.id");
    assert_eq!(serial["last_value"], 50);
    assert_grid(c, &["sequences"], "invoice_no");

    let all = list_json(c, &["indexes"]);
    assert_eq!(
        labels(&all),
        set(&[
            "app.big_pkey",
            "app.lines_pkey",
            "app.measures_2024_pkey",
            "app.measures_2025_pkey",
            "app.orders_pkey",
            "app.orders_note_idx",
        ])
    );
    let orders = list_json(c, &["indexes", "--table", "app.orders"]);
    assert_eq!(
        labels(&orders),
        set(&["app.orders_pkey", "app.orders_note_idx"])
    );
    assert_eq!(find(&orders, "app.orders_pkey")["primary"], true);
    assert_eq!(
        find(&orders, "app.orders_pkey")["constraint"],
        "orders_pkey"
    );
    assert!(find(&orders, "app.orders_note_idx")["constraint"].is_null());
    assert_grid(c, &["indexes", "--table", "app.orders"], "orders_note_idx");

    let out = pgcopydb()
        .args([
            "list",
            "indexes",
            "--table",
            "app.nope",
            "--source",
            &c.uri(DB),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no table app.nope"));
}

fn check_depends_and_schema(c: &Cluster) {
    let depends = list_json(c, &["depends"]);
    let orders = find(&depends, "app.orders");
    let got: BTreeSet<String> = orders["dependents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}.{}",
                d["kind"].as_str().unwrap(),
                d["schema"].as_str().unwrap(),
                d["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        set(&[
            "foreign key app.lines_order_id_fkey",
            "materialized view app.order_totals",
            "sequence app.orders_id_seq",
            "trigger app.orders_touch",
            "view app.recent_orders",
        ])
    );
    assert!(find(&depends, "app.big")["dependents"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_grid(c, &["depends"], "lines_order_id_fkey");

    // `list schema` is always JSON.
    let out = list(c, &["schema"]);
    let schema: Value = serde_json::from_str(&out).expect("list schema prints JSON");
    assert_eq!(schema["database"], DB);
    assert_eq!(labels(&schema["tables"]), set(COPIED));
    assert_eq!(labels(&schema["skipped_tables"]).len(), 4);
    assert_eq!(labels(&schema["sequences"]).len(), 2);
    assert_eq!(schema["extensions"].as_array().unwrap().len(), 3);
    assert_eq!(schema["large_objects"], 0);
    let orders = find(&schema["tables"], "app.orders");
    assert_eq!(orders["indexes"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_split_size_is_a_usage_error() {
    let out = pgcopydb()
        .args([
            "list",
            "table-parts",
            "--split-tables-larger-than",
            "10 parsecs",
        ])
        .args(["--source", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
}

#[test]
fn estimated_table_sizes_come_from_the_catalog() {
    // No autovacuum: it would set `never`'s relpages behind the test's back.
    let c = Cluster::start_with(
        &support::pgbin(),
        &[("log_statement", "mod"), ("autovacuum", "off")],
    );
    c.create_db("sizes");
    c.psql("sizes", support::SIZES_FIXTURE);
    let (analyzed, analyzed_exact) = c.table_sizes("sizes", "public.analyzed", true);
    let (never, never_exact) = c.table_sizes("sizes", "public.never", false);
    assert_eq!(never, 0);
    assert_ne!(analyzed, analyzed_exact);
    assert!(never_exact > analyzed_exact && analyzed > 0);
    let maintenance = c.manual_maintenance_count("sizes");
    let before = c.log_len();

    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = pgcopydb()
            .arg("list")
            .args(args)
            .args(["--source", &c.uri("sizes")])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        support::assert_success(&out, &format!("list {args:?}"));
        out
    };
    let tables = |args: &[&str], env: &[(&str, &str)]| -> Value {
        serde_json::from_slice(&run(args, env).stdout).unwrap()
    };
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };

    // Exact sizes: pg_table_size, and `never` is the larger.
    let exact = tables(&["tables", "--json"], &[]);
    assert_eq!(find(&exact, "public.analyzed")["bytes"], analyzed_exact);
    assert_eq!(find(&exact, "public.never")["bytes"], never_exact);
    assert_eq!(names(&exact), ["never", "analyzed"]);

    // Estimates: relpages * block_size of heap plus TOAST; the table never
    // vacuumed nor analyzed counts as empty and sorts last.
    let estimated = tables(&["tables", "--estimate-table-sizes", "--json"], &[]);
    assert_eq!(find(&estimated, "public.analyzed")["bytes"], analyzed);
    assert_eq!(find(&estimated, "public.never")["bytes"], 0);
    assert_eq!(names(&estimated), ["analyzed", "never"]);

    // The environment mirror, on table-parts: `never` is no longer split.
    let split_at = ["table-parts", "--split-at", "64kB", "--json"];
    let parts = tables(&split_at, &[]);
    assert_eq!(labels(&parts), set(&["public.analyzed", "public.never"]));
    let parts = tables(&split_at, &[("PGCOPYDB_ESTIMATE_TABLE_SIZES", "on")]);
    assert_eq!(labels(&parts), set(&["public.analyzed"]));
    assert_eq!(find(&parts, "public.analyzed")["bytes"], analyzed);

    // --force is accepted and changes nothing; --trace logs the SQL sent.
    let forced = tables(&["tables", "--force", "--json"], &[]);
    assert_eq!(forced, exact);
    let traced = run(&["tables", "--trace"], &[]);
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(stderr.contains("pg_table_size"), "{stderr}");

    // The source was only read: no statement logged, nothing analyzed.
    c.assert_no_statements_since(before);
    assert_eq!(c.manual_maintenance_count("sizes"), maintenance);
}
