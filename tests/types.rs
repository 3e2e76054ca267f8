//! Every type of the source server keeps its value through a clone onto a
//! target whose OID layout differs, in `--copy-format auto` and `binary`.
//!
//! The types come from the source's `pg_type` at run time: base types (of the
//! server and of the extensions the tests install), their arrays, domains over
//! them (nested, over their array, and arrays of domains), enums, ranges,
//! multiranges and composites. A base type with no sample value in
//! [`BASE_SAMPLES`] and no entry in [`SKIPPED`] fails the test: a type that a
//! new server version adds must be looked at, not pass unseen. Values are
//! compared by their text form, read on each cluster independently.
//!
//! Columns are grouped in small tables so that one column the tool copies as
//! text does not hide another that it copies in binary: a base type and its
//! domains share a table, with its array and a domain over it when the type is
//! built in (an extension type's array gets a table of its own); arrays of
//! types created in the database are together (their binary form holds a type
//! OID, so they are never sent in binary).

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{clone_between, pgcopydb, workdir, Cluster};

/// The extensions the tests install (.ci/run), when both servers have them.
const EXTENSIONS: &[&str] = &["hstore", "pg_trgm", "btree_gist", "citext", "uuid-ossp"];

/// A text literal for each base type (by `pg_type.typname`). The reg* ones
/// name objects that `TEST_OBJECTS` creates, so that their OIDs differ
/// between the source and the target.
const BASE_SAMPLES: &[(&str, &str)] = &[
    ("aclitem", "ty_role=arwd/postgres"),
    ("bit", "1"),
    ("bool", "true"),
    ("box", "(1,1),(0,0)"),
    ("bpchar", "fixed"),
    ("bytea", "\\xdeadbeef"),
    ("char", "c"),
    ("cid", "5"),
    ("cidr", "10.1.0.0/16"),
    ("circle", "<(1,2),3>"),
    ("citext", "MiXeD"),
    ("date", "2024-02-29"),
    ("float4", "1.5"),
    ("float8", "2.25"),
    ("hstore", "\"a\"=>\"1\""),
    ("inet", "192.168.1.5/24"),
    ("int2", "12"),
    ("int2vector", "1 2 3"),
    ("int4", "1234"),
    ("int8", "123456789012"),
    ("interval", "1 day 02:03:04"),
    ("json", "{\"a\": [1, 2]}"),
    ("jsonb", "{\"a\": [1, 2]}"),
    ("jsonpath", "$.a[*] ? (@ > 1)"),
    ("line", "{1,-1,0}"),
    ("lseg", "[(0,0),(1,1)]"),
    ("macaddr", "08:00:2b:01:02:03"),
    ("macaddr8", "08:00:2b:01:02:03:04:05"),
    ("money", "12.34"),
    ("name", "a name"),
    ("numeric", "123.456"),
    ("oid", "4000000000"),
    ("oidvector", "1 2 3"),
    ("path", "[(0,0),(1,1),(2,0)]"),
    ("pg_lsn", "16/B374D848"),
    ("pg_snapshot", "10:20:10,14,15"),
    ("point", "(1.5,2.5)"),
    ("polygon", "((0,0),(1,1),(2,0))"),
    ("refcursor", "cur"),
    ("regclass", "ty.named"),
    ("regcollation", "ty.coll"),
    ("regconfig", "ty.cfg"),
    ("regdatabase", "ty_db"),
    ("regdictionary", "ty.dict"),
    ("regnamespace", "ty"),
    ("regoper", "ty.==="),
    ("regoperator", "ty.===(integer,integer)"),
    ("regproc", "ty.f"),
    ("regprocedure", "ty.f(integer)"),
    ("regrole", "ty_role"),
    ("regtype", "ty.mood"),
    ("text", "some text"),
    ("tid", "(1,2)"),
    ("time", "12:34:56.789"),
    ("timestamp", "2024-02-29 12:34:56.789"),
    ("timestamptz", "2024-02-29 12:34:56.789+02"),
    ("timetz", "12:34:56+02"),
    ("tsquery", "a & b"),
    ("tsvector", "'a':1 'b':2"),
    ("txid_snapshot", "10:20:10,14,15"),
    ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("varbit", "10110"),
    ("varchar", "varying"),
    ("xid", "6"),
    ("xid8", "7"),
    ("xml", "<a>x</a>"),
];

/// Base types no column can hold a value of (their input function refuses
/// every value), so that no copy can carry one either.
const SKIPPED: &[(&str, &str)] = &[
    ("pg_node_tree", "planner trees: input refused"),
    ("pg_ndistinct", "extended statistics: input refused"),
    ("pg_dependencies", "extended statistics: input refused"),
    ("pg_mcv_list", "extended statistics: input refused"),
    ("pg_brin_bloom_summary", "BRIN summaries: input refused"),
    (
        "pg_brin_minmax_multi_summary",
        "BRIN summaries: input refused",
    ),
    ("gtsvector", "GiST key of tsvector indexes: input refused"),
    ("gtrgm", "pg_trgm's GiST key: input refused"),
    ("ghstore", "hstore's GiST key: input refused"),
    ("gbtreekey2", "btree_gist's GiST key: input refused"),
    ("gbtreekey4", "btree_gist's GiST key: input refused"),
    ("gbtreekey8", "btree_gist's GiST key: input refused"),
    ("gbtreekey16", "btree_gist's GiST key: input refused"),
    ("gbtreekey32", "btree_gist's GiST key: input refused"),
    ("gbtreekey_var", "btree_gist's GiST key: input refused"),
];

/// The objects the reg* samples name, created on the source (and by the
/// clone on the target). `ty_role` and `ty_db` are global: each cluster
/// creates its own.
const TEST_OBJECTS: &str = "
    CREATE SCHEMA ty;
    CREATE TABLE ty.named (id int);
    CREATE FUNCTION ty.f(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
    CREATE OPERATOR ty.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
    CREATE TEXT SEARCH DICTIONARY ty.dict (TEMPLATE = pg_catalog.simple);
    CREATE TEXT SEARCH CONFIGURATION ty.cfg (COPY = pg_catalog.english);
    CREATE COLLATION ty.coll FROM \"C\";
    CREATE TYPE ty.mood AS ENUM ('happy', 'sad');
    CREATE TYPE ty.regclass_range AS RANGE (subtype = regclass);
    CREATE TYPE ty.mood_range AS RANGE (subtype = ty.mood);
    CREATE TYPE ty.float_range AS RANGE (subtype = float8);
";

/// Objects created on a target database before the clone, so that the
/// objects the clone creates there get other OIDs than on the source.
const OID_SHIFT: &str = "
    CREATE SCHEMA junk;
    CREATE TABLE junk.t1 (a int, b text);
    CREATE TABLE junk.t2 (a int, b text);
    DROP TABLE junk.t1;
    CREATE TEXT SEARCH CONFIGURATION junk.cfg (COPY = pg_catalog.simple);
    CREATE TEXT SEARCH DICTIONARY junk.dict (TEMPLATE = pg_catalog.simple);
    CREATE FUNCTION junk.g(int) RETURNS int LANGUAGE sql AS 'SELECT 2';
    CREATE TYPE junk.other AS ENUM ('x');
    CREATE TYPE junk.comp AS (a int, b text);
    CREATE COLLATION junk.coll FROM \"C\";
";

/// One column of the test: its table (group), declared type, value expression
/// and a description for messages.
struct Column {
    table: String,
    name: String,
    declared: String,
    value: String,
    what: String,
}

#[derive(Default)]
struct Plan {
    setup: Vec<String>,
    columns: Vec<Column>,
}

impl Plan {
    fn add(&mut self, table: &str, declared: &str, value: String, what: String) {
        let name = format!("c{}", self.columns.len());
        self.columns.push(Column {
            table: format!("ty.{table}"),
            name,
            declared: declared.to_string(),
            value,
            what,
        });
    }

    /// CREATE TABLE and INSERT for every table, after the setup statements.
    fn sql(&self) -> String {
        let mut tables: BTreeMap<&str, Vec<&Column>> = BTreeMap::new();
        for c in &self.columns {
            tables.entry(&c.table).or_default().push(c);
        }
        let mut sql = self.setup.join(";\n") + ";\n";
        for (table, cols) in tables {
            let defs: Vec<String> = cols
                .iter()
                .map(|c| format!("{} {}", c.name, c.declared))
                .collect();
            let values: Vec<&str> = cols.iter().map(|c| c.value.as_str()).collect();
            sql += &format!(
                "CREATE TABLE {table} ({});\nINSERT INTO {table} VALUES ({});\n",
                defs.join(", "),
                values.join(", ")
            );
        }
        sql
    }

    /// One query giving (column, value as text) for every column.
    fn read_back_sql(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("SELECT '{}', {}::text FROM {}", c.name, c.name, c.table))
            .collect::<Vec<_>>()
            .join("\nUNION ALL ")
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Read the types of `db` on `src` (after TEST_OBJECTS and the extensions)
/// and plan the columns (xml ones only when `xml_works` on both servers). Panics listing the base types it has no sample for.
fn plan_columns(src: &Cluster, db: &str, xml_works: bool) -> Plan {
    let mut plan = Plan::default();
    let samples: BTreeMap<&str, &str> = BASE_SAMPLES.iter().copied().collect();
    let skipped: BTreeMap<&str, &str> = SKIPPED.iter().copied().collect();

    // Base types: not arrays (no type has them as its array), not the
    // information_schema's domains nor the test's own types.
    let base = src.query(
        db,
        "SELECT t.typname, quote_ident(n.nspname) || '.' || quote_ident(t.typname), \
                t.typarray <> 0, n.nspname = 'pg_catalog' \
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
          WHERE t.typtype = 'b' AND t.typisdefined \
            AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid) \
          ORDER BY 1",
    );
    let mut unknown = Vec::new();
    let mut subtype_samples = BTreeMap::new();
    for (i, row) in base.iter().enumerate() {
        let field = |k: usize| row[k].clone().unwrap_or_default();
        let (name, qualified, has_array) = (field(0), field(1), field(2) == "t");
        // An array of a built-in type is portable when the type is (its
        // element type OID is fixed); one of an extension's type is not.
        let built_in = field(3) == "t";
        if skipped.contains_key(name.as_str()) {
            continue;
        }
        if name == "xml" && !xml_works {
            eprintln!("note: type xml skipped: a server is built without libxml");
            continue;
        }
        let Some(sample) = samples.get(name.as_str()) else {
            unknown.push(name);
            continue;
        };
        let value = format!("{}::{qualified}", literal(sample));
        subtype_samples.insert(qualified.clone(), value.clone());
        let group = format!("b{i}");
        let array_group = if built_in {
            group.clone()
        } else {
            format!("a{i}")
        };
        let (d, dd, da) = (format!("ty.d{i}"), format!("ty.dd{i}"), format!("ty.da{i}"));
        plan.setup.push(format!("CREATE DOMAIN {d} AS {qualified}"));
        plan.setup.push(format!("CREATE DOMAIN {dd} AS {d}"));
        plan.add(&group, &qualified, value.clone(), qualified.clone());
        plan.add(
            &group,
            &d,
            format!("{value}::{d}"),
            format!("domain over {name}"),
        );
        plan.add(
            &group,
            &dd,
            format!("{value}::{dd}"),
            format!("domain over a domain over {name}"),
        );
        plan.add(
            "user_arrays",
            &format!("{d}[]"),
            format!("ARRAY[{value}::{d}]"),
            format!("array of a domain over {name}"),
        );
        if has_array {
            plan.setup
                .push(format!("CREATE DOMAIN {da} AS {qualified}[]"));
            plan.add(
                &array_group,
                &da,
                format!("ARRAY[{value}]::{da}"),
                format!("domain over {name}[]"),
            );
            plan.add(
                &array_group,
                &format!("{qualified}[]"),
                format!("ARRAY[{value}, {value}]"),
                format!("{name}[]"),
            );
        }
    }
    assert!(
        unknown.is_empty(),
        "base types with no sample value in tests/types.rs: {unknown:?}; add a value to \
         BASE_SAMPLES (or, if no column can hold one, an entry with the reason to SKIPPED)"
    );

    // Enums: the first label.
    for (i, row) in src
        .query(
            db,
            "SELECT format_type(t.oid, NULL), \
                    (SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid \
                      ORDER BY e.enumsortorder LIMIT 1) \
               FROM pg_type t WHERE t.typtype = 'e' ORDER BY 1",
        )
        .iter()
        .enumerate()
    {
        let (ty, label) = (
            row[0].clone().unwrap_or_default(),
            row[1].clone().unwrap_or_default(),
        );
        let value = format!("{}::{ty}", literal(&label));
        subtype_samples.insert(ty.clone(), value.clone());
        let d = format!("ty.de{i}");
        plan.setup.push(format!("CREATE DOMAIN {d} AS {ty}"));
        plan.add(&format!("e{i}"), &ty, value.clone(), format!("enum {ty}"));
        plan.add(
            &format!("e{i}"),
            &d,
            format!("{value}::{d}"),
            format!("domain over {ty}"),
        );
        plan.add(
            "user_arrays",
            &format!("{ty}[]"),
            format!("ARRAY[{value}]"),
            format!("{ty}[]"),
        );
    }

    // Ranges (from their subtype's sample) and their multiranges.
    let multirange = if src.major() >= 14 {
        "format_type(r.rngmultitypid, NULL)"
    } else {
        "NULL"
    };
    for (i, row) in src
        .query(
            db,
            &format!(
                "SELECT format_type(r.rngtypid, NULL), \
                        CASE WHEN st.typtype = 'b' \
                             THEN quote_ident(n.nspname) || '.' || quote_ident(st.typname) \
                             ELSE format_type(st.oid, NULL) END, \
                        {multirange}, r.rngtypid >= 16384 \
                   FROM pg_range r JOIN pg_type st ON st.oid = r.rngsubtype \
                   JOIN pg_namespace n ON n.oid = st.typnamespace ORDER BY 1"
            ),
        )
        .iter()
        .enumerate()
    {
        let field = |k: usize| row[k].clone().unwrap_or_default();
        let (range, subtype, user_defined) = (field(0), field(1), field(3) == "t");
        let Some(bound) = subtype_samples.get(&subtype) else {
            panic!("range {range}: no sample value for its subtype {subtype}");
        };
        let value = format!("{range}({bound}, {bound}, '[]')");
        let arrays = if user_defined {
            "user_arrays".to_string()
        } else {
            format!("r{i}")
        };
        plan.add(
            &format!("r{i}"),
            &range,
            value.clone(),
            format!("range {range}"),
        );
        plan.add(
            &arrays,
            &format!("{range}[]"),
            format!("ARRAY[{value}]"),
            format!("{range}[]"),
        );
        if let Some(multi) = row[2].clone() {
            let mvalue = format!("{multi}({value})");
            plan.add(
                &format!("r{i}"),
                &multi,
                mvalue.clone(),
                format!("multirange {multi}"),
            );
            plan.add(
                &arrays,
                &format!("{multi}[]"),
                format!("ARRAY[{mvalue}]"),
                format!("{multi}[]"),
            );
        }
    }

    // Composites: with a reg* attribute, and with plain ones only.
    plan.setup.push(
        "CREATE TYPE ty.comp AS (cfg regconfig, m ty.mood, n int, r ty.regclass_range)".into(),
    );
    plan.setup
        .push("CREATE TYPE ty.plain_comp AS (n int, t text)".into());
    plan.setup.push("CREATE DOMAIN ty.dcomp AS ty.comp".into());
    let comp = "ROW('ty.cfg', 'sad', 3, ty.regclass_range('ty.named', 'ty.named', '[]'))::ty.comp";
    plan.add(
        "comps",
        "ty.comp",
        comp.into(),
        "composite with reg*".into(),
    );
    plan.add(
        "comps",
        "ty.dcomp",
        format!("{comp}::ty.dcomp"),
        "domain over a composite".into(),
    );
    plan.add(
        "plain_comps",
        "ty.plain_comp",
        "ROW(1, 'x')::ty.plain_comp".into(),
        "composite".into(),
    );
    plan.add(
        "user_arrays",
        "ty.comp[]",
        format!("ARRAY[{comp}]"),
        "array of a composite".into(),
    );
    plan
}

/// The bin directory of PostgreSQL `major` from `PGCOPYDB_TEST_PG<major>_BIN`,
/// or None (after one line saying so) when it is not set.
fn other_major(major: u32) -> Option<PathBuf> {
    let var = format!("PGCOPYDB_TEST_PG{major}_BIN");
    match std::env::var_os(&var).filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipped: {var} is not set (scripts/fetch-postgres {major} prints it)");
            None
        }
    }
}

/// Whether `cluster` can create extension `name`.
fn has_extension(cluster: &Cluster, name: &str) -> bool {
    cluster
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_available_extensions WHERE name = '{name}'"),
        )
        .trim()
        == "1"
}

/// Build the every-type database on `src`, clone it into `tgt` once per
/// format, each target database with a shifted OID layout, and compare every
/// value's text form.
fn every_type_survives(src: &Cluster, tgt: &Cluster) {
    let db = "types";
    // Global objects: the target gets others first, so its OIDs differ.
    tgt.psql(
        "postgres",
        "CREATE ROLE junk_role1; CREATE ROLE junk_role2; CREATE DATABASE junk_db;",
    );
    for c in [src, tgt] {
        c.psql("postgres", "CREATE ROLE ty_role; CREATE DATABASE ty_db;");
    }
    src.create_db(db);
    let extensions: Vec<&str> = EXTENSIONS
        .iter()
        .copied()
        .filter(|e| has_extension(src, e) && has_extension(tgt, e))
        .collect();
    if extensions.len() < EXTENSIONS.len() {
        eprintln!("note: only the extensions {extensions:?} are on both servers");
    }
    let setup: String = extensions
        .iter()
        .map(|e| format!("CREATE EXTENSION \"{e}\";\n"))
        .collect();
    src.psql(db, &(setup + TEST_OBJECTS));
    let xml_works = [src, tgt]
        .iter()
        .all(|c| c.try_psql("postgres", "SELECT '<a/>'::xml").is_ok());
    let plan = plan_columns(src, db, xml_works);
    src.psql(db, &plan.sql());
    let expected = read_back(src, db, &plan);
    assert_eq!(expected.len(), plan.columns.len());

    for format in ["auto", "binary"] {
        let target_db = format!("types_{format}");
        tgt.create_db(&target_db);
        tgt.psql(&target_db, OID_SHIFT);
        let dir = workdir();
        // The target's tools first: pg_dump must not be older than the source.
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            tgt.bindir.display(),
            support::pgbin().display()
        );
        let out = pgcopydb()
            .args(["clone", "--source", &src.uri(db)])
            .args(["--target", &tgt.uri(&target_db)])
            .arg("--dir")
            .arg(dir.path())
            .args(["--copy-format", format])
            .env("PATH", path)
            .output()
            .expect("run pgcopydb clone");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "clone {} -> {} --copy-format {format} failed: {stderr}",
            src.major(),
            tgt.major()
        );
        assert_oids_differ(src, db, tgt, &target_db);
        let got = read_back(tgt, &target_db, &plan);
        let mut differences = Vec::new();
        for col in &plan.columns {
            let (want, have) = (shown(expected.get(&col.name)), shown(got.get(&col.name)));
            if want != have {
                differences.push(format!(
                    "{} ({}.{}): source {want}, target {have}",
                    col.what, col.table, col.name
                ));
            }
        }
        assert!(
            differences.is_empty(),
            "PostgreSQL {} -> {}, --copy-format {format}: {} values differ:\n{}",
            src.major(),
            tgt.major(),
            differences.len(),
            differences.join("\n")
        );
        assert_formats(
            &plan,
            dir.path(),
            format == "binary" || src.major() == tgt.major(),
        );
        if format == "binary" {
            // The table of regconfig columns fell back to text, and said so.
            let regconfig = plan
                .columns
                .iter()
                .find(|c| c.declared == "pg_catalog.regconfig")
                .expect("a regconfig column");
            let warning = format!(
                "table {} is copied in text format, not binary: column {} (regconfig)",
                regconfig.table, regconfig.name
            );
            assert!(
                stderr.contains(&warning),
                "no warning {warning:?}: {stderr}"
            );
        }
    }
}

/// The COPY format the summary reports for the tables of plain integers and
/// of regconfig: binary for the first when `binary_allowed` (the fast path
/// stays), text for the second always.
fn assert_formats(plan: &Plan, dir: &std::path::Path, binary_allowed: bool) {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
            .expect("summary.json is JSON");
    let binary_of = |declared: &str| {
        let table = &plan
            .columns
            .iter()
            .find(|c| c.declared == declared)
            .unwrap_or_else(|| panic!("a column of {declared}"))
            .table;
        summary["tables"]
            .as_array()
            .and_then(|tables| tables.iter().find(|t| t["table"] == table.as_str()))
            .and_then(|t| t["binary"].as_bool())
            .unwrap_or_else(|| panic!("{table} not in the summary: {summary}"))
    };
    assert_eq!(
        binary_of("pg_catalog.int4"),
        binary_allowed,
        "COPY format of int4"
    );
    assert!(
        !binary_of("pg_catalog.regconfig"),
        "regconfig copied in binary"
    );
}

/// A value read back, for messages: quoted, NULL, or missing.
fn shown(value: Option<&Option<String>>) -> String {
    match value {
        Some(Some(v)) => format!("{v:?}"),
        Some(None) => "NULL".into(),
        None => "missing".into(),
    }
}

/// The text form of every column of `plan` in `db`, by column name.
fn read_back(cluster: &Cluster, db: &str, plan: &Plan) -> BTreeMap<String, Option<String>> {
    cluster
        .query(db, &plan.read_back_sql())
        .into_iter()
        .map(|mut row| {
            let value = row.pop().flatten();
            (row.pop().flatten().unwrap_or_default(), value)
        })
        .collect()
}

/// The objects the reg* samples name have other OIDs on the target: else the
/// test would prove nothing.
fn assert_oids_differ(src: &Cluster, db: &str, tgt: &Cluster, target_db: &str) {
    let sql = "SELECT 'ty.named'::regclass::oid, 'ty.f'::regproc::oid, \
               'ty.cfg'::regconfig::oid, 'ty.dict'::regdictionary::oid, \
               'ty.mood'::regtype::oid, 'ty'::regnamespace::oid, 'ty_role'::regrole::oid, \
               'ty.==='::regoper::oid";
    let (a, b) = (src.query(db, sql), tgt.query(target_db, sql));
    for (i, (x, y)) in a[0].iter().zip(&b[0]).enumerate() {
        assert_ne!(x, y, "object {i} of {sql} has the same OID on both sides");
    }
}

#[test]
fn every_type_survives_a_clone_pg15() {
    let (src, tgt) = (Cluster::start(), Cluster::start());
    every_type_survives(&src, &tgt);
}

#[test]
fn every_type_survives_a_clone_pg13_into_pg15() {
    let Some(pg13) = other_major(13) else { return };
    let (src, tgt) = (Cluster::start_with(&pg13, &[]), Cluster::start());
    every_type_survives(&src, &tgt);
}

#[test]
fn every_type_survives_a_clone_pg15_into_pg18() {
    let Some(pg18) = other_major(18) else { return };
    let (src, tgt) = (Cluster::start(), Cluster::start_with(&pg18, &[]));
    every_type_survives(&src, &tgt);
}

/// The example of issue 10: reg* columns held the source's OIDs on the
/// target after a binary COPY.
#[test]
fn reg_columns_keep_their_names_on_a_target_with_other_oids() {
    let (src, tgt) = (Cluster::shared_source(), Cluster::shared_target());
    src.create_db("reg");
    src.psql(
        "reg",
        "CREATE TEXT SEARCH CONFIGURATION english_custom (COPY = pg_catalog.english);
         CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'select 1';
         CREATE TYPE mood AS ENUM ('a','b');
         CREATE TABLE r (id int primary key, cfg regconfig, p regproc, pp regprocedure,
                         t regtype, c regclass, n regnamespace, ro regrole, arr regconfig[]);
         INSERT INTO r VALUES (1,'english_custom','f','f(int)','mood','r','public','postgres',
                               ARRAY['english_custom'::regconfig]);",
    );
    tgt.create_db("reg");
    tgt.psql(
        "reg",
        "CREATE TABLE junk (a int); DROP TABLE junk;
         CREATE TEXT SEARCH CONFIGURATION junk_cfg (COPY = pg_catalog.simple);",
    );
    let dir = workdir();
    let out = clone_between((&src, "reg"), (&tgt, "reg"), dir.path(), &[]);
    assert!(
        out.status.success(),
        "clone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = "SELECT cfg, p, pp, t, c, n, ro, arr FROM public.r";
    let want = src.query("reg", sql);
    assert_eq!(
        want[0][0].as_deref(),
        Some("public.english_custom"),
        "the source's own rendering"
    );
    assert_eq!(tgt.query("reg", sql), want);
}

/// PostgreSQL 18's own types (regdatabase...) between two servers of 18, where
/// `auto` uses binary.
#[test]
fn every_type_survives_a_clone_pg18() {
    let Some(pg18) = other_major(18) else { return };
    let (src, tgt) = (
        Cluster::start_with(&pg18, &[]),
        Cluster::start_with(&pg18, &[]),
    );
    every_type_survives(&src, &tgt);
}
