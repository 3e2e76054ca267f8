//! Re-partitioning while migrating: the source has plain tables, the target
//! the same tables partitioned (by range and by list, each with a default
//! partition). COPY routes the rows; every partition must hold exactly the
//! source rows of its range, and each whole table must equal the source's.

use crate::support;

use std::io::BufRead;
use std::process::Stdio;

use crate::support::{pgcopydb, verify, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE events (id int PRIMARY KEY, region text NOT NULL, at date NOT NULL, payload text);
INSERT INTO events
SELECT i, (ARRAY['eu','us','apac','latam'])[1 + i % 4], date '2022-07-01' + (i % 900),
       repeat(md5(i::text), 1 + i % 3)
  FROM generate_series(1, 20000) i;
CREATE TABLE readings (id bigint PRIMARY KEY, region text NOT NULL, v numeric);
INSERT INTO readings
SELECT i, (ARRAY['eu','us','apac','latam'])[1 + i % 4], i * 1.5 FROM generate_series(1, 8000) i;
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 500) i;
";

/// The user's own definitions of the re-partitioned tables: the primary
/// keys keep the source's names and add the partition key.
const PARTITIONED: &str = "
CREATE TABLE events (id int NOT NULL, region text NOT NULL, at date NOT NULL, payload text,
                     CONSTRAINT events_pkey PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_other PARTITION OF events DEFAULT;
CREATE TABLE readings (id bigint NOT NULL, region text NOT NULL, v numeric,
                       CONSTRAINT readings_pkey PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE readings_eu PARTITION OF readings FOR VALUES IN ('eu');
CREATE TABLE readings_us PARTITION OF readings FOR VALUES IN ('us');
CREATE TABLE readings_rest PARTITION OF readings DEFAULT;
";

/// Rows left by an earlier attempt, in partitions: the copy must replace them.
const STALE_ROWS: &str = "
INSERT INTO events VALUES (-1, 'eu', '2023-05-05', 'stale'), (-2, 'us', '1999-01-01', 'stale');
INSERT INTO readings VALUES (-1, 'eu', 0), (-2, 'mars', 0);
";

/// Each target partition, with the source rows that belong in it.
const PARTITIONS: &[(&str, &str)] = &[
    (
        "events_2023",
        "SELECT count(*) FROM events WHERE at >= '2023-01-01' AND at < '2024-01-01'",
    ),
    (
        "events_2024",
        "SELECT count(*) FROM events WHERE at >= '2024-01-01' AND at < '2025-01-01'",
    ),
    (
        "events_other",
        "SELECT count(*) FROM events WHERE at < '2023-01-01' OR at >= '2025-01-01'",
    ),
    (
        "readings_eu",
        "SELECT count(*) FROM readings WHERE region = 'eu'",
    ),
    (
        "readings_us",
        "SELECT count(*) FROM readings WHERE region = 'us'",
    ),
    (
        "readings_rest",
        "SELECT count(*) FROM readings WHERE region NOT IN ('eu', 'us')",
    ),
];

fn assert_rows_routed(src: &Cluster, tgt: &Cluster) {
    for (partition, in_source) in PARTITIONS {
        let expected = src.psql("app", in_source);
        assert_ne!(
            expected, "0",
            "{partition}: the fixture must fill every partition"
        );
        let got = tgt.psql("app", &format!("SELECT count(*) FROM ONLY {partition}"));
        assert_eq!(got, expected, "rows in target partition {partition}");
    }
    for table in ["public.events", "public.readings", "public.notes"] {
        assert_eq!(
            verify::table_fingerprint(tgt, "app", table),
            verify::table_fingerprint(src, "app", table),
            "{table}: rows and checksum on the target"
        );
    }
}

fn run(step: &[&str], src: &Cluster, tgt: &Cluster, dir: &str, extra: &[&str]) {
    let out = pgcopydb()
        .args(step)
        .args(["--source", &src.uri("app"), "--target", &tgt.uri("app")])
        .args(["--dir", dir])
        .args(extra)
        .output()
        .unwrap();
    support::assert_success(&out, &step.join(" "));
}

#[test]
fn copy_table_data_fills_a_target_partitioned_by_range_and_list() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    tgt.create_db("app");
    tgt.psql("app", PARTITIONED);
    tgt.psql("app", "CREATE TABLE notes (id int PRIMARY KEY, body text)");
    tgt.psql("app", STALE_ROWS);
    let dir = workdir();
    let d = dir.path().to_str().unwrap();

    // `clone` refuses a target that has the tables, and says what to run.
    let clone = workdir();
    let out = support::clone_between((&src, "app"), (&tgt, "app"), clone.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("pgcopydb copy data"), "{stderr}");

    // Whole-table copies.
    run(
        &["copy", "table-data"],
        &src,
        &tgt,
        d,
        &["--not-consistent"],
    );
    assert_rows_routed(&src, &tgt);

    // Again, with `events` split into key-range parts copied side by side.
    tgt.psql("app", STALE_ROWS);
    let split = workdir();
    let d = split.path().to_str().unwrap();
    run(
        &["copy", "table-data"],
        &src,
        &tgt,
        d,
        &["--not-consistent", "--split-tables-larger-than", "200kB"],
    );
    let parts = support::list_progress(split.path());
    assert!(
        parts.to_string().contains("events (part 2/"),
        "events was not split: {parts}"
    );
    assert_rows_routed(&src, &tgt);

    // `copy data` onto the prepared target: the user's primary keys (named
    // as the source's) are kept, and the partitions get their statistics.
    tgt.psql("app", STALE_ROWS);
    let data = workdir();
    let d = data.path().to_str().unwrap();
    run(&["copy", "data"], &src, &tgt, d, &["--not-consistent"]);
    assert_rows_routed(&src, &tgt);
    assert_eq!(
        tgt.psql(
            "app",
            "SELECT count(*) FROM pg_stat_user_tables \
              WHERE relname ~ '^(events|readings)_' AND last_analyze IS NULL"
        ),
        "0",
        "partitions left without statistics"
    );
}

#[test]
fn step_by_step_migration_repartitions_tables_between_restore_and_copy() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    tgt.create_db("app");
    let dir = workdir();
    let d = dir.path().to_str().unwrap();

    let mut holder = pgcopydb()
        .args(["snapshot", "--source", &src.uri("app"), "--dir", d])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut id = String::new();
    std::io::BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut id)
        .unwrap();
    assert!(!id.trim().is_empty());

    run(&["dump", "schema"], &src, &tgt, d, &[]);
    run(&["restore", "pre-data"], &src, &tgt, d, &[]);
    // The user's change: the restored plain tables become partitioned ones.
    tgt.psql("app", "DROP TABLE events, readings");
    tgt.psql("app", PARTITIONED);
    tgt.psql("app", STALE_ROWS);
    for step in [
        &["copy", "table-data"][..],
        &["copy", "sequences"],
        &["copy", "indexes"],
        &["copy", "constraints"],
        &["restore", "post-data"],
    ] {
        run(step, &src, &tgt, d, &[]);
    }
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    holder.wait().unwrap();

    assert_rows_routed(&src, &tgt);
    assert_eq!(
        tgt.psql(
            "app",
            "SELECT relkind FROM pg_class WHERE relname IN ('events', 'readings') ORDER BY 1"
        ),
        "p\np"
    );
}

#[test]
fn a_foreign_table_on_the_target_receives_its_rows_through_the_wrapper() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    tgt.create_db("app");
    tgt.create_db("shard");
    tgt.psql(
        "shard",
        "CREATE TABLE notes (id int PRIMARY KEY, body text)",
    );
    tgt.psql("shard", "INSERT INTO notes VALUES (-1, 'stale')");
    tgt.psql("app", PARTITIONED);
    tgt.psql(
        "app",
        &format!(
            "CREATE EXTENSION postgres_fdw;
             CREATE SERVER shard FOREIGN DATA WRAPPER postgres_fdw
               OPTIONS (host '{}', port '{}', dbname '{}');
             CREATE USER MAPPING FOR postgres SERVER shard;
             CREATE FOREIGN TABLE notes (id int, body text) SERVER shard;",
            tgt.socket_dir().display(),
            tgt.port,
            tgt.db_name("shard")
        ),
    );
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    run(
        &["copy", "table-data"],
        &src,
        &tgt,
        d,
        &["--not-consistent"],
    );
    assert_rows_routed(&src, &tgt);
    assert_eq!(
        verify::table_fingerprint(&tgt, "shard", "public.notes"),
        verify::table_fingerprint(&src, "app", "public.notes")
    );
}

/// A part whose attempt failed is cleared before it is copied again; on a
/// partitioned target that must reach the partitions (`DELETE FROM ONLY` a
/// partitioned table deletes nothing).
#[test]
fn a_part_copied_again_is_cleared_in_the_partitions() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    tgt.create_db("app");
    tgt.psql("app", PARTITIONED);
    tgt.psql("app", "CREATE TABLE notes (id int PRIMARY KEY, body text)");
    // The last part of `events` fails: the target skips some of its rows.
    tgt.psql(
        "app",
        "CREATE FUNCTION skip_last() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.id > 19990 THEN RETURN NULL; END IF; RETURN NEW; END $$;
         CREATE TRIGGER skip_last BEFORE INSERT ON events_2023
           FOR EACH ROW EXECUTE FUNCTION skip_last();
         CREATE TRIGGER skip_last BEFORE INSERT ON events_2024
           FOR EACH ROW EXECUTE FUNCTION skip_last();
         CREATE TRIGGER skip_last BEFORE INSERT ON events_other
           FOR EACH ROW EXECUTE FUNCTION skip_last();",
    );
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    let split = ["--not-consistent", "--split-tables-larger-than", "200kB"];
    let out = pgcopydb()
        .args(["copy", "table-data", "--source", &src.uri("app")])
        .args(["--target", &tgt.uri("app"), "--dir", d])
        .args(split)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the skipped rows went unnoticed:\n{text}"
    );
    assert!(text.contains("public.events (part "), "{text}");
    // As if that attempt had committed rows of its range before it was cut.
    tgt.psql(
        "app",
        "DROP TRIGGER skip_last ON events_2023; DROP TRIGGER skip_last ON events_2024;
         DROP TRIGGER skip_last ON events_other;
         INSERT INTO events SELECT i, 'eu', '1990-01-01', 'stale'
           FROM generate_series(19995, 19999) i;",
    );
    let mut resume = split.to_vec();
    resume.push("--resume");
    run(&["copy", "table-data"], &src, &tgt, d, &resume);
    assert_rows_routed(&src, &tgt);
}
