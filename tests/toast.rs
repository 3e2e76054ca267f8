//! Long values land stored as on the source: compressed where the source's
//! are, uncompressed where they are not. Columns whose every value the source
//! stores uncompressed are copied with EXTERNAL storage, so that the target
//! does not try (and fail) to compress each value, and are EXTENDED again
//! once the copy commits.

use crate::support;

use crate::support::{verify, workdir, Cluster};

const SOURCE: &str = r#"
CREATE TABLE doc (
  id int PRIMARY KEY,
  hashes text NOT NULL,          -- hex of hashes: pglz cannot save a quarter
  prose text NOT NULL,           -- repetitive: compressed
  mixed text,                    -- compressed on even rows only
  "Raw Bytes" bytea,             -- hex-decoded hashes: incompressible
  kept text,                     -- EXTERNAL on the source: left as it is
  short text                     -- never long enough to be toasted
);
ALTER TABLE doc ALTER COLUMN kept SET STORAGE EXTERNAL;
INSERT INTO doc
SELECT g,
       (SELECT string_agg(md5(g || ':' || k), '') FROM generate_series(1, 160) k),
       repeat('lorem ipsum dolor ', 400),
       CASE WHEN g % 2 = 0 THEN repeat('ab', 3000)
            ELSE (SELECT string_agg(md5(k || '/' || g), '') FROM generate_series(1, 160) k) END,
       decode((SELECT string_agg(md5(g || '#' || k), '') FROM generate_series(1, 160) k), 'hex'),
       repeat('x', 5000),
       'row ' || g
  FROM generate_series(1, 400) g;
-- A table that compresses everything, and one with a single long value.
CREATE TABLE note (id int PRIMARY KEY, body text);
INSERT INTO note SELECT g, repeat('note ' || g, 1000) FROM generate_series(1, 50) g;
"#;

/// The columns pgcopydb set to `storage` on the target, from its statement log.
fn storage_changes(tgt: &Cluster, from: u64, storage: &str) -> Vec<String> {
    let log = std::fs::read(tgt.log_path()).expect("target log");
    let text = String::from_utf8_lossy(&log[from as usize..]);
    let needle = format!(" SET STORAGE {storage}");
    let mut columns: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&needle))
        .flat_map(|l| {
            l.split("ALTER COLUMN ")
                .skip(1)
                .map(|c| c.split(" SET STORAGE").next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    columns.sort();
    columns
}

#[test]
fn never_compressed_columns_are_copied_without_compression_attempts() {
    let src = Cluster::start();
    let tgt = Cluster::start_with(&support::pgbin(), &[("log_statement", "all")]);
    src.create_db("t");
    src.psql("t", SOURCE);
    tgt.create_db("t");
    let from = tgt.log_len();

    let dir = workdir();
    let out = support::clone_between((&src, "t"), (&tgt, "t"), dir.path(), &[]);
    support::assert_success(&out, "clone");

    // Same rows, schema (column storage included) and, value by value
    // counts, the same compressed and uncompressed values.
    verify::assert_equal(&src, "t", &tgt, "t");
    let storage = "SELECT attname, attstorage FROM pg_attribute \
                   WHERE attrelid = 'public.doc'::regclass AND attnum > 0 ORDER BY attnum";
    assert_eq!(src.query("t", storage), tgt.query("t", storage));
    let uncompressed =
        "SELECT count(*) FROM public.doc WHERE pg_column_compression(hashes) IS NULL \
                        AND pg_column_compression(\"Raw Bytes\") IS NULL";
    assert_eq!(tgt.query("t", uncompressed), vec![vec![Some("400".into())]]);

    // Only the EXTENDED columns without a compressed value were switched
    // (`short` too: none of its values is compressed), and each was switched
    // back. `kept` is EXTERNAL on the source: the schema restore sets it.
    let switched = ["\"Raw Bytes\"", "hashes", "short"]
        .map(String::from)
        .to_vec();
    let mut external = switched.clone();
    external.push("kept".into());
    external.sort();
    assert_eq!(storage_changes(&tgt, from, "EXTERNAL"), external);
    assert_eq!(storage_changes(&tgt, from, "EXTENDED"), switched);
}

#[test]
fn long_values_are_compressed_with_the_sources_method() {
    // The source compresses with lz4 by default, the target with pglz.
    let src = Cluster::start_with(&support::pgbin(), &[("default_toast_compression", "lz4")]);
    let tgt = Cluster::start();
    src.create_db("t");
    src.psql(
        "t",
        "CREATE TABLE page (id int PRIMARY KEY, html text);
         INSERT INTO page SELECT g, repeat('<p>page ' || g || '</p>', 600)
           FROM generate_series(1, 300) g;",
    );
    let methods = "SELECT pg_column_compression(html), count(*) FROM public.page GROUP BY 1";
    assert_eq!(
        src.query("t", methods),
        vec![vec![Some("lz4".into()), Some("300".into())]]
    );
    tgt.create_db("t");

    let dir = workdir();
    let out = support::clone_between((&src, "t"), (&tgt, "t"), dir.path(), &[]);
    support::assert_success(&out, "clone");

    // The verifier compares the compression methods of every long column.
    verify::assert_equal(&src, "t", &tgt, "t");
    assert_eq!(tgt.query("t", methods), src.query("t", methods));
}

#[test]
fn a_loader_that_does_not_own_the_table_copies_without_the_storage_switch() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    let table = "CREATE TABLE doc (id int PRIMARY KEY, hashes text NOT NULL)";
    src.create_db("t");
    src.psql(
        "t",
        &format!(
            "{table};
             INSERT INTO doc SELECT g,
               (SELECT string_agg(md5(g || ':' || k), '') FROM generate_series(1, 160) k)
               FROM generate_series(1, 200) g;"
        ),
    );
    // The table exists on the target, owned by another role; the loader may
    // truncate and fill it, but not ALTER it.
    tgt.create_db("t");
    tgt.psql(
        "t",
        &format!(
            "CREATE ROLE owner_role; CREATE ROLE loader LOGIN PASSWORD 'loader-pw';
             {table}; ALTER TABLE doc OWNER TO owner_role;
             GRANT SELECT, INSERT, TRUNCATE ON doc TO loader;"
        ),
    );
    let loader = format!("postgres://loader:loader-pw@127.0.0.1:{}/t", tgt.port);

    let dir = workdir();
    let out = support::pgcopydb()
        .args([
            "copy",
            "table-data",
            "--source",
            &src.uri("t"),
            "--target",
            &loader,
        ])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run pgcopydb");
    support::assert_success(&out, "copy table-data as a non-owner");

    let rows = "SELECT count(*), md5(string_agg(hashes, '' ORDER BY id)),
                       count(*) FILTER (WHERE pg_column_compression(hashes) IS NULL)
                  FROM public.doc";
    assert_eq!(tgt.query("t", rows), src.query("t", rows));
    let storage = "SELECT attstorage FROM pg_attribute \
                   WHERE attrelid = 'public.doc'::regclass AND attname = 'hashes'";
    assert_eq!(tgt.query("t", storage), vec![vec![Some("x".into())]]);
}
