//! A unit that fails: without --fail-fast the other units go on and the run
//! ends non-zero naming the failure; with --fail-fast it stops at once. Once
//! the cause is fixed, --resume finishes and the target verifies equal.

use crate::support;

use crate::support::{pgcopydb, verify, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE good (id int PRIMARY KEY, v text);
INSERT INTO good SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE TABLE bad (id int PRIMARY KEY, v text);
INSERT INTO bad SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE INDEX bad_v ON bad (v);
CREATE TABLE other (id int PRIMARY KEY, good_id int REFERENCES good (id));
INSERT INTO other SELECT g, g FROM generate_series(1, 1000) g;
";

/// An event trigger on the target that refuses to create one index: a
/// deterministic failure of exactly one unit.
const REFUSE_BAD_V: &str = "
CREATE FUNCTION refuse_bad_v() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_query() LIKE '%bad_v%' THEN
    RAISE EXCEPTION 'refusing index bad_v (test)';
  END IF;
END $$;
CREATE EVENT TRIGGER refuse_bad_v ON ddl_command_start WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION refuse_bad_v();
";

fn clone(
    src: &Cluster,
    tgt: &Cluster,
    dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    support::clone_between((src, "src"), (tgt, "dst"), dir, extra)
}

/// A source with SOURCE, and a target whose event trigger refuses `bad_v`.
fn servers_refusing_bad_v() -> (Cluster, Cluster) {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", SOURCE);
    tgt.create_db("dst");
    tgt.psql("dst", REFUSE_BAD_V);
    (src, tgt)
}

#[test]
fn a_failed_unit_lets_others_finish_then_resume_completes() {
    let (src, tgt) = servers_refusing_bad_v();
    let dir = workdir();

    let out = clone(&src, &tgt, dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{stderr}");
    assert!(stderr.contains("bad_v"), "the failure is named: {stderr}");
    // Independent units went on: every table's data is in, the other
    // tables' keys and the foreign key between them exist.
    assert_eq!(tgt.psql("dst", "SELECT count(*) FROM good"), "5000");
    assert_eq!(tgt.psql("dst", "SELECT count(*) FROM bad"), "5000");
    assert_eq!(
        tgt.psql("dst", "SELECT count(*) FROM pg_constraint WHERE conname IN ('good_pkey', 'other_pkey', 'other_good_id_fkey')"),
        "3"
    );

    // The cause fixed, a resume finishes the job.
    tgt.psql("dst", "DROP EVENT TRIGGER refuse_bad_v");
    let out = clone(&src, &tgt, dir.path(), &["--resume", "--not-consistent"]);
    support::assert_success(&out, "clone --resume");
    tgt.psql("dst", "DROP FUNCTION refuse_bad_v()");
    verify::assert_equal(&src, "src", &tgt, "dst");
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let (src, tgt) = servers_refusing_bad_v();
    let dir = workdir();
    let out = clone(
        &src,
        &tgt,
        dir.path(),
        &["--fail-fast", "--table-jobs", "1", "--index-jobs", "1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("bad_v"), "{stderr}");
    let doc = support::list_progress(dir.path());
    // Without --fail-fast post-data would start (and fail on the same
    // index): with it, it must not even start.
    let post_started = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["label"] == "post-data restore");
    assert!(!post_started, "post-data started despite --fail-fast");
}

/// Pairs of tables that reference each other (as pagila's staff and store):
/// their foreign keys are added concurrently, each locking both tables, and
/// PostgreSQL kills one of two such statements as a deadlock. The run must
/// retry it rather than report a failure.
#[test]
fn cyclic_foreign_keys_added_concurrently_do_not_fail_the_run() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    let mut sql = String::new();
    for i in 0..12 {
        sql.push_str(&format!(
            "CREATE TABLE a{i} (id int PRIMARY KEY, b int);
             CREATE TABLE b{i} (id int PRIMARY KEY, a int REFERENCES a{i} (id));
             ALTER TABLE a{i} ADD FOREIGN KEY (b) REFERENCES b{i} (id);
             INSERT INTO a{i} SELECT g, NULL FROM generate_series(1, 2000) g;
             INSERT INTO b{i} SELECT g, g FROM generate_series(1, 2000) g;
             UPDATE a{i} SET b = id;"
        ));
    }
    src.psql("src", &sql);
    for round in 0..3 {
        let db = format!("dst{round}");
        tgt.create_db(&db);
        let dir = workdir();
        let out = pgcopydb()
            .args([
                "clone",
                "--source",
                &src.uri("src"),
                "--target",
                &tgt.uri(&db),
            ])
            .args(["--table-jobs", "4", "--index-jobs", "4", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        support::assert_success(&out, "clone with cyclic foreign keys");
        verify::assert_equal(&src, "src", &tgt, &db);
    }
}

#[test]
fn a_source_reader_terminated_mid_copy_is_retried() {
    let points = support::failpoints::Failpoints::new();
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql(
        "src",
        "CREATE TABLE big (id int PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g;",
    );
    tgt.create_db("dst");
    let dir = workdir();
    let mut cmd = pgcopydb();
    cmd.args([
        "clone",
        "--source",
        &src.uri("src"),
        "--target",
        &tgt.uri("dst"),
    ])
    .arg("--dir")
    .arg(dir.path())
    .env("PGCOPYDB_RETRY_DELAY_MS", "100")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    // The run stops once the COPY of big is sent to the source, before it
    // reads any row: the source backend is busy sending them.
    let mut child = points
        .arm(&mut cmd, "copy-sent=pause")
        .spawn()
        .expect("run pgcopydb");
    points.wait_reached("copy-sent", &mut child);
    // That backend goes away mid-COPY (once the server has started it),
    // then the run goes on.
    support::wait_until("the COPY of big running on the source", || {
        src.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity \
              WHERE query LIKE 'COPY public.big % TO STDOUT%' AND state = 'active'",
        ) == "1"
    });
    let killed = src.psql(
        "postgres",
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE 'COPY public.big % TO STDOUT%') k",
    );
    assert_eq!(killed, "1");
    points.release("copy-sent");
    let out = child.wait_with_output().expect("wait for pgcopydb");
    support::assert_success(&out, "clone with a source backend terminated");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retry 1/"), "{stderr}");
    verify::assert_equal(&src, "src", &tgt, "dst");
}
