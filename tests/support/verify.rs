//! Independent verification that a target database equals its source.
//!
//! Nothing here trusts pgcopydb: both sides are read with psql and pg_dump and compared:
//! - every user table (ordinary tables, leaf partitions, inheritance parents read
//!   with ONLY): row count and an order-independent checksum of the rows' text forms;
//! - materialized views: populated or not, and their contents when populated;
//! - sequences: last_value and is_called;
//! - indexes: pg_get_indexdef, indisvalid, indisready;
//! - constraints of tables and domains: pg_get_constraintdef, convalidated,
//!   condeferrable, condeferred;
//! - large objects: owner, ACL, comment, md5 and length of the contents;
//! - how long values are stored (PostgreSQL 14+ on both sides): for every
//!   column of a table with out-of-line values, how many values are compressed
//!   and by which method, and how many are not;
//! - settings of the database (ALTER DATABASE / ALTER ROLE IN DATABASE ... SET);
//! - `pg_dump --schema-only` of both sides, split into its TOC entries. Both sides
//!   are dumped by the same `pg_dump`, the newer of the two clusters' client
//!   tools, so that only the servers' answers can differ, not the dumper.
//!
//! Across major versions (cross-version mode, chosen when the servers' majors
//! differ) the data parts are still compared with the source itself, but the
//! schema parts (indexes, constraints, the schema dump) cannot be: each server
//! renders the same objects its own way (PostgreSQL 16 stops qualifying columns
//! in single-table views, 18 lists NOT NULL constraints in pg_constraint, 14
//! gives every range type a multirange...). There the target is compared with a
//! *reference*: the source's `pg_dump --schema-only` restored by psql into a
//! fresh database of the target's server, which is what the source's schema
//! becomes on that version by the standard route. Every object the source has
//! is in the reference, rendered by the same server as the target, so nothing
//! but presentation is normalised away.

use super::cluster::{pg_client, Cluster};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Schemas never compared.
const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Every difference between `src_db` on `src` and `tgt_db` on `tgt`, one precise
/// line each; empty when they are equal.
pub fn differences(src: &Cluster, src_db: &str, tgt: &Cluster, tgt_db: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    let s = (src, src_db);
    let t = (tgt, tgt_db);
    let dumper = newest_client_bindir(src, tgt);
    // What the target's schema is compared with: the source, or across major
    // versions the source's schema as the target's server restores it.
    let reference_db;
    let (schema_side, of) = if src.major() == tgt.major() {
        (s, String::new())
    } else {
        reference_db = restore_reference(src, src_db, tgt, tgt_db, &dumper);
        (
            (tgt, reference_db.as_str()),
            format!(
                " (source PostgreSQL {} as restored on PostgreSQL {})",
                src.major(),
                tgt.major()
            ),
        )
    };
    compare_maps(&mut diffs, "table", &table_contents(s), &table_contents(t));
    compare_maps(&mut diffs, "materialized view", &matviews(s), &matviews(t));
    compare_maps(&mut diffs, "sequence", &sequences(s), &sequences(t));
    compare_maps(
        &mut diffs,
        &format!("index{of}"),
        &indexes(schema_side),
        &indexes(t),
    );
    compare_maps(
        &mut diffs,
        &format!("constraint{of}"),
        &constraints(schema_side),
        &constraints(t),
    );
    compare_maps(
        &mut diffs,
        "large object",
        &large_objects(s),
        &large_objects(t),
    );
    if src.major() >= 14 && tgt.major() >= 14 {
        compare_maps(
            &mut diffs,
            "stored values of column",
            &value_compression(s),
            &value_compression(t),
        );
    }
    compare_maps(
        &mut diffs,
        "database setting",
        &db_settings(s),
        &db_settings(t),
    );
    compare_maps(
        &mut diffs,
        &format!("schema dump entry{of}"),
        &schema_dump(schema_side, &dumper),
        &schema_dump(t, &dumper),
    );
    diffs
}

/// Cross-version mode: restore `pg_dump --schema-only` of the source into a fresh
/// database `<tgt_db>__reference` on the target's server (created like the test
/// creates its target databases, from template1), with the `pg_dump` and `psql`
/// of `dumper`. Returns the database's name.
fn restore_reference(
    src: &Cluster,
    src_db: &str,
    tgt: &Cluster,
    tgt_db: &str,
    dumper: &Path,
) -> String {
    let reference = format!("{tgt_db}__reference");
    let quoted = super::cluster::quote_ident(&tgt.db_name(&reference));
    tgt.psql("postgres", &format!("DROP DATABASE IF EXISTS {quoted}"));
    tgt.create_db(&reference);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("schema.sql");
    let out = src
        .client_from(dumper, "pg_dump")
        .args(["--schema-only", "-d", &src.db_name(src_db), "-f"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run pg_dump");
    super::assert_success(
        &out,
        &format!(
            "pg_dump --schema-only {src_db} (port {}) for the reference",
            src.port
        ),
    );
    let out = tgt
        .client_from(dumper, "psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &tgt.db_name(&reference),
            "-f",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run psql");
    super::assert_success(
        &out,
        &format!(
            "restoring the source's schema into {reference} (port {})",
            tgt.port
        ),
    );
    reference
}

/// Major version of the `pg_dump` in `bindir`.
fn pg_dump_major(bindir: &Path) -> u32 {
    let out = pg_client(bindir, "pg_dump")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {}/pg_dump --version: {e}", bindir.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_once("(PostgreSQL)")
        .and_then(|(_, v)| {
            let digits: String = v
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("unexpected pg_dump --version output: {text}"))
}

/// The client bindir of `src` or `tgt` whose `pg_dump` is newer (`src`'s on a tie):
/// a `pg_dump` reads servers of its major and older only.
fn newest_client_bindir(src: &Cluster, tgt: &Cluster) -> PathBuf {
    if src.client_bindir == tgt.client_bindir
        || pg_dump_major(&src.client_bindir) >= pg_dump_major(&tgt.client_bindir)
    {
        src.client_bindir.clone()
    } else {
        tgt.client_bindir.clone()
    }
}

/// Panics listing every difference between the two databases.
pub fn assert_equal(src: &Cluster, src_db: &str, tgt: &Cluster, tgt_db: &str) {
    let diffs = differences(src, src_db, tgt, tgt_db);
    if !diffs.is_empty() {
        panic!(
            "target {tgt_db} (port {}) differs from source {src_db} (port {}) in {} ways:\n{}",
            tgt.port,
            src.port,
            diffs.len(),
            diffs.join("\n")
        );
    }
}

type Side<'a> = (&'a Cluster, &'a str);
type Map = BTreeMap<String, String>;

/// Shows a value on one line, escaping newlines and other control characters.
fn show(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn compare_maps(diffs: &mut Vec<String>, what: &str, src: &Map, tgt: &Map) {
    let keys: BTreeSet<&String> = src.keys().chain(tgt.keys()).collect();
    for key in keys {
        match (src.get(key), tgt.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                if a.contains('\n') || b.contains('\n') {
                    diffs.push(format!(
                        "{what} {}: differs: {}",
                        show(key),
                        line_diff(a, b)
                    ));
                } else {
                    diffs.push(format!(
                        "{what} {}: source has {}, target has {}",
                        show(key),
                        show(a),
                        show(b)
                    ));
                }
            }
            (Some(a), None) => diffs.push(format!(
                "{what} {}: missing on target (source has {})",
                show(key),
                show(a)
            )),
            (None, Some(b)) => diffs.push(format!(
                "{what} {}: only on target (target has {})",
                show(key),
                show(b)
            )),
            (None, None) => unreachable!(),
        }
    }
}

/// The lines only in `a` (-) and only in `b` (+), in order, as one line.
fn line_diff(a: &str, b: &str) -> String {
    let mut bag: BTreeMap<&str, i64> = BTreeMap::new();
    for l in a.lines() {
        *bag.entry(l).or_default() += 1;
    }
    for l in b.lines() {
        *bag.entry(l).or_default() -= 1;
    }
    let mut out = Vec::new();
    let mut left = bag.clone();
    for l in a.lines() {
        let n = left.get_mut(l).unwrap();
        if *n > 0 {
            *n -= 1;
            out.push(format!("source: {}", show(l)));
        }
    }
    let mut right: BTreeMap<&str, i64> = bag.iter().map(|(k, v)| (*k, -*v)).collect();
    for l in b.lines() {
        let n = right.get_mut(l).unwrap();
        if *n > 0 {
            *n -= 1;
            out.push(format!("target: {}", show(l)));
        }
    }
    if out.is_empty() {
        // Same lines, other order.
        out.push(format!("same lines in another order: source {}", show(a)));
        out.push(format!("target {}", show(b)));
    }
    out.join(" | ")
}

fn field(row: &[Option<String>], i: usize) -> String {
    row.get(i)
        .cloned()
        .flatten()
        .unwrap_or_else(|| "NULL".to_string())
}

/// Rows of (key, value...) into a map of key -> "v1 v2 ...".
fn rows_to_map(rows: Vec<Vec<Option<String>>>, labels: &[&str]) -> Map {
    let mut map = Map::new();
    for row in rows {
        let key = field(&row, 0);
        let value = labels
            .iter()
            .enumerate()
            .map(|(i, label)| format!("{label}={}", field(&row, i + 1)))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(old) = map.insert(key.clone(), value.clone()) {
            map.insert(key, format!("{old}; {value}"));
        }
    }
    map
}

/// Runs the statements (each returning (key, values...)) that the `generator` query
/// yields, all as one UNION ALL.
fn run_generated(side: Side, generator: &str, labels: &[&str]) -> Map {
    let (cluster, db) = side;
    let parts: Vec<String> = cluster
        .query(db, generator)
        .into_iter()
        .map(|r| field(&r, 0))
        .collect();
    if parts.is_empty() {
        return Map::new();
    }
    let sql = parts
        .iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n");
    rows_to_map(cluster.query(db, &sql), labels)
}

/// Row count and an order-independent checksum of `%I.%I` (filled in by format()):
/// the sum of a 64-bit hash of each row's text form, its columns in name order (so
/// that a different physical column order is not a difference; the schema dump
/// catches that where it matters). `%s` gets the column list.
const CHECKSUM_QUERY: &str = "SELECT %L::text, count(*)::text, \
     coalesce(sum(hashtextextended(ROW(%s)::text, 0)::numeric), 0)::text FROM ONLY %I.%I AS __vr";

/// SQL listing the columns of `c` as `__vr.col, ...` in name order.
const COLUMNS: &str =
    "coalesce((SELECT string_agg(format('__vr.%I', a.attname), ', ' ORDER BY a.attname) \
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')";

fn table_contents(side: Side) -> Map {
    let generator = format!(
        "SELECT format('{CHECKSUM_QUERY}', \
                format('%I.%I', n.nspname, c.relname), {COLUMNS}, n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND {SYSTEM_SCHEMAS} \
         ORDER BY 1"
    );
    run_generated(side, &generator, &["rows", "checksum"])
}

/// For each variable-length column of a table whose TOAST relation holds
/// data: the number of values per compression method (`none` for values
/// stored uncompressed, and NULLs).
fn value_compression(side: Side) -> Map {
    let generator = format!(
        "SELECT format('SELECT %L, string_agg(m || ''='' || k, '' '' ORDER BY m) \
                        FROM (SELECT coalesce(pg_column_compression(%I)::text, ''none'') AS m, \
                                     count(*) AS k FROM ONLY %I.%I GROUP BY 1) s', \
                       format('%I.%I %I', n.nspname, c.relname, a.attname), \
                       a.attname, n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
              AND NOT a.attisdropped AND a.attlen = -1 \
         WHERE c.relkind = 'r' AND c.reltoastrelid <> 0 \
           AND pg_relation_size(c.reltoastrelid) > 0 AND {SYSTEM_SCHEMAS} \
         ORDER BY 1"
    );
    run_generated(side, &generator, &["values"])
}

fn matviews(side: Side) -> Map {
    let (cluster, db) = side;
    let mut map = rows_to_map(
        cluster.query(
            db,
            &format!(
                "SELECT format('%I.%I', n.nspname, c.relname), c.relispopulated::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'm' AND {SYSTEM_SCHEMAS}"
            ),
        ),
        &["populated"],
    );
    let generator = format!(
        "SELECT format('{CHECKSUM_QUERY}', \
                format('%I.%I', n.nspname, c.relname), {COLUMNS}, n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'm' AND c.relispopulated AND {SYSTEM_SCHEMAS} \
         ORDER BY 1"
    );
    for (k, v) in run_generated(side, &generator, &["rows", "checksum"]) {
        if let Some(p) = map.get_mut(&k) {
            p.push(' ');
            p.push_str(&v);
        }
    }
    map
}

fn sequences(side: Side) -> Map {
    let generator = format!(
        "SELECT format('SELECT %L::text, last_value::text, is_called::text FROM %I.%I', \
                format('%I.%I', n.nspname, c.relname), n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'S' AND {SYSTEM_SCHEMAS} \
         ORDER BY 1"
    );
    run_generated(side, &generator, &["last_value", "is_called"])
}

fn indexes(side: Side) -> Map {
    let (cluster, db) = side;
    rows_to_map(
        cluster.query(
            db,
            &format!(
                "SELECT format('%I.%I.%I', n.nspname, t.relname, i.relname), \
                        pg_get_indexdef(i.oid), x.indisvalid::text, x.indisready::text \
                 FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE {SYSTEM_SCHEMAS}"
            ),
        ),
        &["def", "valid", "ready"],
    )
}

fn constraints(side: Side) -> Map {
    let (cluster, db) = side;
    rows_to_map(
        cluster.query(
            db,
            &format!(
                "SELECT CASE WHEN c.conrelid <> 0 \
                          THEN format('%I.%I.%I', n.nspname, t.relname, c.conname) \
                          ELSE format('domain %s.%I', c.contypid::regtype, c.conname) END, \
                        pg_get_constraintdef(c.oid), c.convalidated::text, \
                        c.condeferrable::text, c.condeferred::text \
                 FROM pg_constraint c \
                 JOIN pg_namespace n ON n.oid = c.connamespace \
                 LEFT JOIN pg_class t ON t.oid = c.conrelid \
                 WHERE {SYSTEM_SCHEMAS}"
            ),
        ),
        &["def", "validated", "deferrable", "deferred"],
    )
}

fn large_objects(side: Side) -> Map {
    let (cluster, db) = side;
    rows_to_map(
        cluster.query(
            db,
            "SELECT m.oid::text, pg_get_userbyid(m.lomowner)::text, \
                    coalesce(m.lomacl::text, 'NULL'), md5(lo_get(m.oid)), \
                    length(lo_get(m.oid))::text, \
                    coalesce(obj_description(m.oid, 'pg_largeobject'), 'NULL') \
             FROM pg_largeobject_metadata m",
        ),
        &["owner", "acl", "md5", "bytes", "comment"],
    )
}

fn db_settings(side: Side) -> Map {
    let (cluster, db) = side;
    rows_to_map(
        cluster.query(
            db,
            "SELECT CASE WHEN s.setrole = 0 THEN 'for all roles' \
                         ELSE 'for role ' || pg_get_userbyid(s.setrole) END, \
                    array(SELECT x FROM unnest(s.setconfig) x ORDER BY 1)::text \
             FROM pg_db_role_setting s \
             JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE d.datname = current_database()",
        ),
        &["settings"],
    )
}

/// `pg_dump --schema-only`, normalised and split into its TOC entries, keyed by
/// the entry's `-- Name: ...; Type: ...; Schema: ...; Owner: ...` header.
///
/// The session time zone is UTC whatever the database's own setting: the
/// server renders timestamptz constants in rules, views, defaults and
/// partition bounds in it (the setting itself is compared on its own).
fn schema_dump(side: Side, dumper: &Path) -> Map {
    let (cluster, db) = side;
    let out = cluster
        .client_from(dumper, "pg_dump")
        .env("PGTZ", "UTC")
        .arg("--schema-only")
        .arg("-d")
        .arg(cluster.db_name(db))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run pg_dump");
    super::assert_success(
        &out,
        &format!("pg_dump --schema-only {db} (port {})", cluster.port),
    );
    split_dump(&String::from_utf8_lossy(&out.stdout))
}

fn is_noise(line: &str) -> bool {
    line.starts_with("-- Dumped from database version")
        || line.starts_with("-- Dumped by pg_dump version")
        || line.starts_with("-- Started on")
        || line.starts_with("-- Completed on")
        || line == "-- PostgreSQL database dump"
        || line == "-- PostgreSQL database dump complete"
        || line.starts_with("\\restrict")
        || line.starts_with("\\unrestrict")
        || line.starts_with("SET ")
        || line.starts_with("SELECT pg_catalog.set_config('search_path'")
        || line.trim().is_empty()
        || line.trim() == "--"
}

fn split_dump(dump: &str) -> Map {
    let mut map = Map::new();
    let mut key = String::from("(preamble)");
    let mut body = String::new();
    let flush = |key: &str, body: &mut String, map: &mut Map| {
        if body.is_empty() && key == "(preamble)" {
            return;
        }
        let mut k = key.to_string();
        let mut n = 2;
        while map.contains_key(&k) {
            k = format!("{key} (#{n})");
            n += 1;
        }
        map.insert(k, std::mem::take(body).trim_end().to_string());
    };
    for line in dump.lines() {
        if is_noise(line) {
            continue;
        }
        if line.starts_with("-- Name: ") || line.starts_with("-- Data for Name: ") {
            flush(&key, &mut body, &mut map);
            key = line.trim_start_matches("-- ").to_string();
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    flush(&key, &mut body, &mut map);
    map
}

/// Row count and order-independent checksum (as in [`differences`]) of every
/// row of `table` (`schema.name`, quoted as needed by the caller), its
/// partitions included: compares a table with one re-partitioned elsewhere.
pub fn table_fingerprint(cluster: &Cluster, db: &str, table: &str) -> (String, String) {
    let sql = format!(
        "SELECT format('SELECT count(*)::text, \
                coalesce(sum(hashtextextended(ROW(%s)::text, 0)::numeric), 0)::text \
                FROM {table} AS __vr', \
                (SELECT string_agg(format('__vr.%I', a.attname), ', ' ORDER BY a.attname) \
                   FROM pg_attribute a \
                  WHERE a.attrelid = '{table}'::regclass AND a.attnum > 0 \
                    AND NOT a.attisdropped))"
    );
    let query = field(&cluster.query(db, &sql)[0], 0);
    let row = &cluster.query(db, &query)[0];
    (field(row, 0), field(row, 1))
}
