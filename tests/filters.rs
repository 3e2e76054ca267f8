//! `--filters FILE`: clones that leave out schemas, tables, table data,
//! indexes and extensions, checked on the target object by object; bad
//! filter files; resuming with other filters.

use crate::support;

use std::path::Path;
use std::process::Output;

use crate::support::{pgcopydb, workdir, Cluster};

/// Two schemas; a family of log tables matched by a regex; a kept table
/// with a foreign key to an excluded one; sequences owned by the excluded
/// table (one still the default of a kept table); a view, trigger, comment
/// and grant on the excluded table; a matview and a table whose data is
/// excluded; an index to exclude; an extension to exclude.
const SOURCE: &str = r#"
CREATE EXTENSION hstore;
CREATE SCHEMA app;
CREATE SCHEMA scratch;
CREATE TABLE scratch.t (id int PRIMARY KEY);
INSERT INTO scratch.t SELECT generate_series(1, 10);
CREATE FUNCTION scratch.f() RETURNS int LANGUAGE sql AS 'SELECT 1';

CREATE TABLE app.customers (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO app.customers (name) SELECT 'c' || g FROM generate_series(1, 200) g;
CREATE TABLE app.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id int NOT NULL REFERENCES app.customers (id),
    note text);
CREATE INDEX orders_note_idx ON app.orders (note);
CREATE INDEX orders_customer_idx ON app.orders (customer_id);
INSERT INTO app.orders (customer_id, note) SELECT 1 + g % 200, 'n' || g FROM generate_series(1, 1000) g;

CREATE TABLE app.audit (id serial PRIMARY KEY, what text);
INSERT INTO app.audit (what) SELECT 'a' || g FROM generate_series(1, 50) g;
COMMENT ON TABLE app.audit IS 'left out';
COMMENT ON COLUMN app.audit.what IS 'left out too';
GRANT SELECT ON app.audit TO PUBLIC;
CREATE VIEW app.audit_view AS SELECT * FROM app.audit;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER audit_touch BEFORE INSERT ON app.audit FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE SEQUENCE app.shared_seq OWNED BY app.audit.id;

CREATE TABLE app.events (
    id int PRIMARY KEY,
    audit_id int REFERENCES app.audit (id),
    num bigint DEFAULT nextval('app.shared_seq'));
INSERT INTO app.events (id, audit_id) SELECT g, g FROM generate_series(1, 30) g;
COMMENT ON CONSTRAINT events_audit_id_fkey ON app.events IS 'points at a left-out table';

CREATE TABLE app.log_2024_01 (id int, msg text);
CREATE TABLE app.log_2024_02 (id int, msg text);
INSERT INTO app.log_2024_01 VALUES (1, 'x');
CREATE TABLE app.log_archive (id int);
INSERT INTO app.log_archive VALUES (1), (2);

CREATE TABLE app.big_data (id int PRIMARY KEY, payload text);
CREATE INDEX big_data_payload_idx ON app.big_data (payload);
INSERT INTO app.big_data SELECT g, repeat('p', 50) FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW app.customer_counts AS
    SELECT customer_id, count(*) AS n FROM app.orders GROUP BY customer_id;
"#;

const EXCLUDE: &str = r#"
; what the exclude test leaves out
[exclude-schema]
scratch

[exclude-table]
app.audit
app.~/^log_2024_\d\d$/
app.no_such_table

[exclude-table-data]
app.big_data
app.customer_counts

[exclude-index]
app.orders_note_idx

[exclude-extension]
hstore
"#;

fn run_clone(src: &Cluster, tgt: &Cluster, tgt_db: &str, dir: &Path, filters: &Path) -> Output {
    pgcopydb()
        .args([
            "clone",
            "--source",
            &src.uri("src"),
            "--target",
            &tgt.uri(tgt_db),
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--filters")
        .arg(filters)
        .output()
        .expect("run pgcopydb")
}

fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn one(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, sql)
}

/// User relations of the target, `schema.name:relkind`, sorted.
fn relations(c: &Cluster, db: &str) -> Vec<String> {
    let out = one(
        c,
        db,
        "SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ' ') \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    );
    let mut rels: Vec<String> = out.split(' ').map(str::to_string).collect();
    rels.sort();
    rels
}

/// Row count and an order-independent checksum of a table.
fn contents(c: &Cluster, db: &str, table: &str) -> String {
    one(
        c,
        db,
        &format!("SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t"),
    )
}

fn source() -> Cluster {
    let src = Cluster::shared_source();
    src.create_db("src");
    src.psql("src", SOURCE);
    src
}

#[test]
fn exclude_filters_leave_out_objects_and_their_dependents() {
    let src = source();
    let tgt = Cluster::shared_target();
    tgt.create_db("tgt");
    let dir = workdir();
    let filters = write_file(dir.path(), "exclude.ini", EXCLUDE);
    let work = dir.path().join("work");
    let out = run_clone(&src, &tgt, "tgt", &work, &filters);
    support::assert_success(&out, "pgcopydb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("match nothing") && stderr.contains("app.no_such_table"),
        "{stderr}"
    );

    let rels = relations(&tgt, "tgt");
    let expected = [
        "app.big_data:r",
        "app.big_data_payload_idx:i",
        "app.big_data_pkey:i",
        "app.customer_counts:m",
        "app.customers:r",
        "app.customers_id_seq:S",
        "app.customers_pkey:i",
        "app.events:r",
        "app.events_pkey:i",
        "app.log_archive:r",
        "app.orders:r",
        "app.orders_customer_idx:i",
        "app.orders_id_seq:S",
        "app.orders_pkey:i",
        "app.shared_seq:S",
    ];
    assert_eq!(rels, expected, "relations on the target");

    // Kept tables hold exactly the source rows.
    for t in [
        "app.customers",
        "app.orders",
        "app.events",
        "app.log_archive",
    ] {
        assert_eq!(contents(&src, "src", t), contents(&tgt, "tgt", t), "{t}");
    }
    // Data excluded: empty table with its indexes, matview not refreshed.
    assert_eq!(one(&tgt, "tgt", "SELECT count(*) FROM app.big_data"), "0");
    assert_eq!(
        one(
            &tgt,
            "tgt",
            "SELECT ispopulated FROM pg_matviews WHERE matviewname = 'customer_counts'"
        ),
        "f"
    );
    // No schema, extension, FK, trigger function dependency left dangling.
    assert_eq!(
        one(
            &tgt,
            "tgt",
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'scratch'"
        ),
        "0"
    );
    assert_eq!(
        one(
            &tgt,
            "tgt",
            "SELECT count(*) FROM pg_extension WHERE extname = 'hstore'"
        ),
        "0"
    );
    assert_eq!(
        one(
            &tgt,
            "tgt",
            "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint \
              WHERE connamespace = 'app'::regnamespace AND contype = 'f'"
        ),
        "orders_customer_id_fkey"
    );
    // The sequence owned by the left-out table survives as the default of a
    // kept one, with its value, but owned by nothing.
    assert_eq!(
        one(&tgt, "tgt", "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'app.events'::regclass"),
        "nextval('app.shared_seq'::regclass)"
    );
    assert_eq!(
        one(&tgt, "tgt", "SELECT count(*) FROM pg_depend WHERE objid = 'app.shared_seq'::regclass AND deptype = 'a'"),
        "0"
    );
    assert_eq!(
        one(&tgt, "tgt", "SELECT last_value FROM app.customers_id_seq"),
        "200"
    );
    // The trigger function is not the table's: it stays.
    assert_eq!(
        one(
            &tgt,
            "tgt",
            "SELECT count(*) FROM pg_proc WHERE proname = 'touch'"
        ),
        "1"
    );

    // Resuming with other filters is refused, naming the option.
    let other = write_file(dir.path(), "other.ini", "[exclude-table]\napp.orders\n");
    let out = pgcopydb()
        .args(["clone", "--resume", "--not-consistent"])
        .args(["--source", &src.uri("src"), "--target", &tgt.uri("tgt")])
        .arg("--dir")
        .arg(&work)
        .arg("--filters")
        .arg(&other)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--filters differs"), "{stderr}");
}

#[test]
fn include_only_table_copies_just_those_tables() {
    let src = source();
    let tgt = Cluster::shared_target();
    tgt.create_db("tgt");
    let dir = workdir();
    let filters = write_file(
        dir.path(),
        "only.ini",
        "[include-only-table]\napp.customers\n\"app\".\"orders\"\n",
    );
    let out = run_clone(&src, &tgt, "tgt", &dir.path().join("work"), &filters);
    support::assert_success(&out, "pgcopydb");
    let rels = relations(&tgt, "tgt");
    let expected = [
        "app.customers:r",
        "app.customers_id_seq:S",
        "app.customers_pkey:i",
        "app.orders:r",
        "app.orders_customer_idx:i",
        "app.orders_id_seq:S",
        "app.orders_note_idx:i",
        "app.orders_pkey:i",
    ];
    assert_eq!(rels, expected, "relations on the target");
    for t in ["app.customers", "app.orders"] {
        assert_eq!(contents(&src, "src", t), contents(&tgt, "tgt", t), "{t}");
    }
}

/// Exit code 2, exactly one `error:` line naming `needle`.
fn assert_config_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line:\n{stderr}");
    assert!(
        errors[0].contains(needle),
        "{:?} should mention {needle:?}",
        errors[0]
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_filter_files_fail_before_touching_the_target() {
    let c = Cluster::shared_source();
    c.create_db("src");
    c.psql("src", "CREATE TABLE t (id int)");
    c.create_db("tgt");
    let dir = workdir();
    let cases = [
        (
            "[exclude-tables]\npublic.t\n",
            "unknown section [exclude-tables]",
        ),
        (
            "[exclude-table]\npublic.~/(/\n",
            "invalid regular expression",
        ),
        ("[exclude-table]\npublic.\"t\n", "no closing double quote"),
        ("[exclude-table]\nt\n", "schema-qualified"),
        (
            "[include-only-table]\npublic.t\n[exclude-table]\npublic.u\n",
            "cannot be combined",
        ),
        (
            "[include-only-extension]\na\n[exclude-extension]\nb\n",
            "cannot be combined",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = write_file(dir.path(), &format!("bad{i}.ini"), text);
        let out = run_clone(&c, &c, "tgt", &dir.path().join(format!("w{i}")), &file);
        assert_config_error(&out, needle);
    }
    let out = run_clone(
        &c,
        &c,
        "tgt",
        &dir.path().join("wm"),
        &dir.path().join("missing.ini"),
    );
    assert_config_error(&out, "cannot read filters file");
    assert_eq!(
        one(
            &c,
            "tgt",
            "SELECT count(*) FROM pg_class WHERE relname = 't'"
        ),
        "0"
    );
}

/// `pgcopydb <args>` against `src` (and a target when given), its output.
fn run_cmd(args: &[&str], src: &Cluster, target: Option<String>) -> Output {
    let mut cmd = pgcopydb();
    cmd.args(args).args(["--source", &src.uri("src")]);
    if let Some(t) = target {
        cmd.args(["--target", &t]);
    }
    cmd.output().expect("run pgcopydb")
}

/// `schema.name` of every element of a `list --json` array.
fn listed(out: &Output) -> Vec<String> {
    support::assert_success(out, "pgcopydb");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| match o["schema"].as_str() {
            Some(s) => format!("{s}.{}", o["name"].as_str().unwrap()),
            None => o["name"].as_str().unwrap().to_string(),
        })
        .collect();
    names.sort();
    names
}

/// `list`, `restore parse-list`, `clone --verify` and `compare` all see the
/// same selection as the clone.
#[test]
fn list_parse_list_verify_and_compare_honour_filters() {
    let src = source();
    let tgt = Cluster::shared_target();
    tgt.create_db("tgt");
    let dir = workdir();
    let filters = write_file(dir.path(), "exclude.ini", EXCLUDE);
    let f = filters.to_str().unwrap();

    let tables = run_cmd(&["list", "tables", "--json", "--filters", f], &src, None);
    assert_eq!(
        listed(&tables),
        [
            "app.customers",
            "app.events",
            "app.log_archive",
            "app.orders"
        ]
    );
    let skipped = run_cmd(
        &["list", "tables", "--list-skipped", "--filters", f],
        &src,
        None,
    );
    support::assert_success(&skipped, "pgcopydb");
    let grid = String::from_utf8_lossy(&skipped.stdout);
    for (table, why) in [
        ("audit ", "excluded by --filters"),
        ("log_2024_01", "excluded by --filters"),
        ("big_data", "data excluded by --filters"),
        ("customer_counts", "not refreshed"),
    ] {
        let line = grid
            .lines()
            .find(|l| l.contains(table))
            .unwrap_or_else(|| panic!("{grid}"));
        assert!(line.contains(why), "{line}");
    }
    let indexes = run_cmd(&["list", "indexes", "--json", "--filters", f], &src, None);
    let indexes = listed(&indexes);
    assert!(
        indexes.contains(&"app.orders_customer_idx".to_string()),
        "{indexes:?}"
    );
    assert!(!indexes
        .iter()
        .any(|i| i.contains("orders_note_idx") || i.contains("audit")));
    let sequences = run_cmd(&["list", "sequences", "--json", "--filters", f], &src, None);
    assert_eq!(
        listed(&sequences),
        [
            "app.customers_id_seq",
            "app.orders_id_seq",
            "app.shared_seq"
        ]
    );
    let extensions = run_cmd(
        &["list", "extensions", "--json", "--filters", f],
        &src,
        None,
    );
    assert_eq!(listed(&extensions), ["pg_catalog.plpgsql"]);

    // parse-list reads the selection saved by `dump schema`, not --filters.
    let work = dir.path().join("steps");
    let w = work.to_str().unwrap();
    let dump = run_cmd(&["dump", "schema", "--dir", w, "--filters", f], &src, None);
    support::assert_success(&dump, "pgcopydb");
    let list = run_cmd(
        &["restore", "parse-list", "--dir", w],
        &src,
        Some(tgt.uri("tgt")),
    );
    support::assert_success(&list, "pgcopydb");
    let list = String::from_utf8_lossy(&list.stdout);
    for (entry, skipped) in [
        ("TABLE app audit ", true),
        ("SCHEMA - scratch", true),
        ("EXTENSION - hstore", true),
        ("INDEX app orders_note_idx", true),
        ("TABLE app customers ", false),
    ] {
        let line = list
            .lines()
            .find(|l| l.contains(entry))
            .unwrap_or_else(|| panic!("no {entry}:\n{list}"));
        assert_eq!(line.starts_with(';'), skipped, "{line}");
    }

    // clone --verify compares only what the filters keep.
    let out = pgcopydb()
        .args([
            "clone",
            "--verify",
            "--source",
            &src.uri("src"),
            "--target",
            &tgt.uri("tgt"),
        ])
        .arg("--dir")
        .arg(dir.path().join("clone"))
        .args(["--filters", f])
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb");
    for what in ["data", "schema"] {
        let with = run_cmd(
            &["compare", what, "--filters", f],
            &src,
            Some(tgt.uri("tgt")),
        );
        support::assert_success(&with, "pgcopydb");
        let without = run_cmd(&["compare", what], &src, Some(tgt.uri("tgt")));
        assert!(
            !without.status.success(),
            "compare {what} without --filters should differ"
        );
    }
}

/// A UTF-8 byte order mark (as Windows editors write) is not part of the
/// first line.
#[test]
fn filter_file_with_a_byte_order_mark_works() {
    let src = source();
    let dir = workdir();
    let file = write_file(dir.path(), "bom.ini", "\u{feff}[exclude-schema]\napp\n");
    let f = file.to_str().unwrap();
    let tables = run_cmd(&["list", "tables", "--json", "--filters", f], &src, None);
    assert_eq!(listed(&tables), ["scratch.t"]);
}

/// 200,000 names that match nothing: the command succeeds and its warning
/// names a few of them and counts the rest, in a line of bounded length.
#[test]
fn huge_filter_file_gives_a_short_warning() {
    let src = source();
    let dir = workdir();
    let mut text = String::from("[exclude-table]\napp.audit\n");
    for i in 0..200_000 {
        text.push_str(&format!("app.no_such_table_{i}\n"));
    }
    let file = write_file(dir.path(), "huge.ini", &text);
    let out = run_cmd(
        &[
            "list",
            "tables",
            "--json",
            "--filters",
            file.to_str().unwrap(),
        ],
        &src,
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !listed(&out).contains(&"app.audit".to_string()),
        "app.audit is excluded"
    );
    let longest = stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "a stderr line of {longest} bytes");
    let warning = stderr
        .lines()
        .find(|l| l.contains("match nothing"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(warning.contains("and 199990 more"), "{warning}");
}
