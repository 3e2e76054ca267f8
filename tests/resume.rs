//! Interruptions: a crash, an error or a pause then SIGKILL at each unit
//! boundary, chosen by failpoint (`src/failpoint.rs`), each asserting from
//! the run's own state (`list progress`) and from the target which phase it
//! cut; SIGINT; a target that goes away; SIGKILL at random moments. After
//! each, `--resume` must finish and the target must verify equal to the
//! source; the source must never be written to.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::failpoints::Failpoints;
use crate::support::follow::HANG_GUARD;
use crate::support::{pgcopydb, verify, workdir, Cluster};

/// A database big enough that a clone takes a few seconds, with every kind
/// of unit: a large table, many small ones, indexes, constraints, foreign
/// keys, sequences, large objects, post-data objects.
const DATASET: &str = "
CREATE TABLE big (id bigint PRIMARY KEY, a text, b numeric, c timestamptz);
INSERT INTO big SELECT g, md5(g::text), g / 7.0, '2020-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 300000) g;
CREATE INDEX big_a ON big (a);
CREATE INDEX big_c ON big (c);
CREATE TABLE mid (id serial PRIMARY KEY, big_id bigint REFERENCES big (id), note text);
INSERT INTO mid (big_id, note) SELECT g, repeat('x', 40) FROM generate_series(1, 100000) g;
CREATE INDEX mid_big ON mid (big_id);
DO $$ BEGIN
  FOR i IN 1..25 LOOP
    EXECUTE format('CREATE TABLE small_%s (id int PRIMARY KEY, v text UNIQUE, m int REFERENCES mid (id))', i);
    EXECUTE format('INSERT INTO small_%s SELECT g, md5(g::text), g FROM generate_series(1, 200) g', i);
  END LOOP;
END $$;
CREATE SEQUENCE standalone START 42;
SELECT setval('standalone', 4242);
SELECT lo_from_bytea(0, decode(repeat(md5(g::text), 2000), 'hex')) FROM generate_series(1, 15) g;
CREATE VIEW v AS SELECT count(*) FROM big;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER mid_touch BEFORE UPDATE ON mid FOR EACH ROW EXECUTE FUNCTION touch();
";

fn source_with_dataset() -> Cluster {
    let src = Cluster::start_with(&support::pgbin(), &[("log_statement", "mod")]);
    src.create_db("src");
    src.psql("src", DATASET);
    src
}

fn clone_cmd(src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) -> Command {
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--table-jobs", "2", "--index-jobs", "2"])
        .args(["--source", &src.uri("src"), "--target", &tgt.uri(db)])
        .arg("--dir")
        .arg(dir)
        .env("PGCOPYDB_RETRY_DELAY_MS", "100");
    cmd
}

fn resume(src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) -> Output {
    clone_cmd(src, tgt, db, dir)
        .args(["--resume", "--not-consistent"])
        .output()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Wait for the child, failing the test if it hangs (a guard, not a timing claim).
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "pgcopydb did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the run was doing, from its own state (for the randomized test's log).
fn phase(dir: &Path) -> String {
    let Some(doc) = support::try_list_progress(dir) else {
        return "before any unit".into();
    };
    let running: Vec<String> = doc["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["state"] == "running")
        .map(|u| {
            format!(
                "{} {}",
                u["kind"].as_str().unwrap_or(""),
                u["label"].as_str().unwrap_or("")
            )
        })
        .collect();
    if running.is_empty() {
        "between units".into()
    } else {
        running.join(", ")
    }
}

/// A clone of the dataset into an empty target database `dst` (stderr kept
/// for the test to read), paused at `copy-sent` with a table's COPY in
/// flight on both servers: the target's COPY FROM is open and the source is
/// sending rows. The test acts on the paused run (a signal, a server
/// stopped), then releases it: the moment is a state of the run, not a
/// guess at how long a copy lasts.
struct PausedMidCopy {
    src: Cluster,
    tgt: Cluster,
    dir: tempfile::TempDir,
    child: Child,
    points: Failpoints,
}

fn a_clone_paused_mid_copy() -> PausedMidCopy {
    let points = Failpoints::new();
    let src = source_with_dataset();
    let tgt = Cluster::start();
    tgt.create_db("dst");
    let dir = workdir();
    let mut cmd = clone_cmd(&src, &tgt, "dst", dir.path());
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = points.arm(&mut cmd, "copy-sent=pause").spawn().unwrap();
    points.wait_reached("copy-sent", &mut child);
    let doing = phase(dir.path());
    assert!(doing.contains("table "), "paused mid-copy, yet: {doing}");
    PausedMidCopy {
        src,
        tgt,
        dir,
        child,
        points,
    }
}

impl PausedMidCopy {
    /// Let the paused run go on.
    fn release(&self) {
        self.points.release("copy-sent");
    }
}

/// The clock-based kills, kept as one randomized test beside the failpoint
/// tests below: SIGKILL at random fractions of a measured run, whatever the
/// run is doing then, and each resume must verify.
#[test]
fn sigkill_at_random_moments_then_resume_verifies() {
    let src = source_with_dataset();
    let tgt = Cluster::start();
    let from = src.log_len();

    // One uninterrupted run tells how long a clone takes here, to spread the
    // kill points over its whole length.
    tgt.create_db("full");
    let dir = workdir();
    let started = Instant::now();
    support::assert_success(
        &clone_cmd(&src, &tgt, "full", dir.path()).output().unwrap(),
        "pgcopydb",
    );
    let full = started.elapsed();
    verify::assert_equal(&src, "src", &tgt, "full");

    // Printed, so that a failure can be replayed with PGCOPYDB_TEST_SEED.
    let mut seed: u64 = std::env::var("PGCOPYDB_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("PGCOPYDB_TEST_SEED={seed}");
    let mut phases = Vec::new();
    for i in 0..6 {
        // xorshift: no dependency for six random numbers.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = full.mul_f64(0.9 * (seed % 1000) as f64 / 1000.0);
        let db = format!("kill{i}");
        tgt.create_db(&db);
        let dir = workdir();
        let mut child = clone_cmd(&src, &tgt, &db, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let doing = phase(dir.path());
        signal(&child, libc::SIGKILL);
        let _ = child.wait();
        phases.push(format!("kill {i} at {at:?}: {doing}"));
        // The dead process's lock is taken over; the run continues.
        support::assert_success(&resume(&src, &tgt, &db, dir.path()), "pgcopydb");
        verify::assert_equal(&src, "src", &tgt, &db);
    }
    eprintln!("full clone {full:?}; kill points:\n{}", phases.join("\n"));
    src.assert_no_statements_since(from);
}

#[test]
fn sigint_cancels_queries_and_resume_completes() {
    let mut run = a_clone_paused_mid_copy();
    // Heard once the run goes on, with the COPY in flight.
    signal(&run.child, libc::SIGINT);
    run.release();
    let PausedMidCopy {
        src,
        tgt,
        dir,
        child,
        ..
    } = &mut run;
    let status = wait_exit(child, HANG_GUARD);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("--resume"), "{stderr}");
    // Nothing of ours keeps running on either server: the cancels were
    // sent before the exit, but a backend acts on its cancel (or on its
    // client gone) on its own time, so the test waits for that state
    // instead of reading pg_stat_activity the instant the process ended.
    for (c, db) in [(&*src, "src"), (&*tgt, "dst")] {
        support::wait_until(
            &format!("no query of ours active on port {}", c.port),
            || {
                c.psql(
                    db,
                    "SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = current_database() \
                    AND application_name IN ('pgcopydb', 'pg_dump', 'pg_restore') \
                    AND state = 'active'",
                ) == "0"
            },
        );
    }
    support::assert_success(&resume(src, tgt, "dst", dir.path()), "pgcopydb");
    verify::assert_equal(src, "src", tgt, "dst");
}

#[test]
fn target_stopping_mid_copy_fails_clearly_then_resumes() {
    let mut run = a_clone_paused_mid_copy();
    run.tgt.stop();
    run.release();
    let PausedMidCopy {
        src,
        tgt,
        dir,
        child,
        ..
    } = &mut run;
    let status = wait_exit(child, HANG_GUARD);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or("");
    assert!(
        last.contains("--resume") || last.contains("target"),
        "{stderr}"
    );
    // It gave up on the lost server instead of retrying every table in turn.
    let tries = stderr.matches("retry 1/").count();
    assert!(tries <= 2, "{tries} tables retried: {stderr}");
    // Post-data waits for the data: its triggers would fire on the resume's COPY.
    assert!(!stderr.contains("restoring post-data"), "{stderr}");
    tgt.restart();
    support::assert_success(&resume(src, tgt, "dst", dir.path()), "pgcopydb");
    verify::assert_equal(src, "src", tgt, "dst");
}

#[test]
fn list_progress_reads_a_finished_run() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);",
    );
    tgt.create_db("dst");
    let dir = workdir();
    support::assert_success(
        &clone_cmd(&src, &tgt, "dst", dir.path()).output().unwrap(),
        "pgcopydb",
    );
    let doc = support::list_progress(dir.path());
    let t = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "table" && u["label"] == "public.t")
        .expect("table unit");
    assert_eq!(t["state"], "done");
    assert_eq!(t["rows"], 10);
    assert_eq!(doc["totals"]["tables_done"], 1);
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut run = a_clone_paused_mid_copy();
    signal(&run.child, libc::SIGINT);
    run.release();
    let child = &mut run.child;
    // The second signal goes once the first is heard (so that the two are
    // not merged into one delivery), not after a fixed pause: on a busy
    // machine the orderly stop could end within such a pause.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let heard = line.contains("interrupted: cancelling");
        seen.push(line);
        if heard {
            break;
        }
    }
    // Keep reading, or the child's next write to stderr would fail.
    let drain = std::thread::spawn(move || lines.count());
    assert!(
        seen.last()
            .is_some_and(|l| l.contains("interrupted: cancelling")),
        "first signal not acknowledged: {seen:#?}"
    );
    signal(child, libc::SIGINT);
    let status = wait_exit(child, HANG_GUARD);
    drain.join().unwrap();
    // 130 is the immediate exit; an orderly stop after the first signal is 3.
    assert_eq!(status.code(), Some(130), "{status}");
}

// ---- Interruptions at unit boundaries, chosen by failpoint ----

/// Every kind of unit, small: the moment comes from a failpoint, not from a
/// table big enough to catch. `big` (about 3 MB) is split in parts.
const UNITS: &str = "
CREATE TABLE big (id bigint PRIMARY KEY, a text, b numeric);
INSERT INTO big SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 40000) g;
CREATE INDEX big_a ON big (a);
CREATE TABLE mid (id serial PRIMARY KEY, big_id bigint REFERENCES big (id), note text);
INSERT INTO mid (big_id, note) SELECT g, repeat('x', 40) FROM generate_series(1, 5000) g;
CREATE INDEX mid_big ON mid (big_id);
DO $$ BEGIN
  FOR i IN 1..4 LOOP
    EXECUTE format('CREATE TABLE small_%s (id int PRIMARY KEY, v text UNIQUE, m int REFERENCES mid (id))', i);
    EXECUTE format('INSERT INTO small_%s SELECT g, md5(g::text), g FROM generate_series(1, 200) g', i);
  END LOOP;
END $$;
CREATE SEQUENCE standalone START 42;
SELECT setval('standalone', 4242);
SELECT lo_from_bytea(0, decode(repeat(md5(g::text), 20), 'hex')) FROM generate_series(1, 5) g;
CREATE VIEW v AS SELECT count(*) FROM big;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER mid_touch BEFORE UPDATE ON mid FOR EACH ROW EXECUTE FUNCTION touch();
";

/// A source with [`UNITS`], an empty target database `dst`, a work
/// directory, and the failpoints of the run about to start.
struct Run {
    src: Cluster,
    tgt: Cluster,
    dir: tempfile::TempDir,
    points: Failpoints,
    from: u64,
}

impl Run {
    fn new() -> Run {
        let points = Failpoints::new();
        // Shared servers (the source logs writes, told apart by database):
        // these runs crash or pause pgcopydb, never a server.
        let src = Cluster::shared_source();
        src.create_db("src");
        src.psql("src", UNITS);
        let tgt = Cluster::shared_target();
        tgt.create_db("dst");
        let from = src.log_len();
        Run {
            src,
            tgt,
            dir: workdir(),
            points,
            from,
        }
    }

    /// The clone, `big` split in parts, with `spec` armed.
    fn clone(&self, spec: &str) -> Command {
        let mut cmd = clone_cmd(&self.src, &self.tgt, "dst", self.dir.path());
        cmd.args([
            "--split-tables-larger-than",
            "1MB",
            "--split-max-parts",
            "4",
        ]);
        self.points.arm(&mut cmd, spec);
        cmd
    }

    /// Run the clone with `point` armed to crash there: it dies of SIGKILL
    /// at the point; returns the point's label.
    fn crash_at(&self, point: &str) -> String {
        let out = self.clone(&format!("{point}=crash")).output().unwrap();
        let label = self.points.expect_reached(point, &out);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(libc::SIGKILL),
            "{}",
            support::output_text(&out)
        );
        label
    }

    /// Run the clone with `spec` armed, `point` among them, to fail with
    /// an error there: it ends with the injected error, non-zero; returns
    /// the point's label.
    fn error_at(&self, point: &str, spec: &str) -> String {
        let out = self.clone(spec).output().unwrap();
        let label = self.points.expect_reached(point, &out);
        let text = support::output_text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(
            text.contains(&format!("failpoint {point}: injected error")),
            "{text}"
        );
        label
    }

    /// Start the clone paused at `point`; returns the paused run and the
    /// point's label. The run is frozen there (one thread) while the test
    /// reads its state.
    fn pause_at(&self, point: &str) -> (Child, String) {
        let mut child = self
            .clone(&format!("{point}=pause"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let label = self.points.wait_reached(point, &mut child);
        (child, label)
    }

    /// The units of the state with this kind.
    fn units(&self, kind: &str) -> Vec<serde_json::Value> {
        support::list_progress(self.dir.path())["units"]
            .as_array()
            .expect("units")
            .iter()
            .filter(|u| u["kind"] == kind)
            .cloned()
            .collect()
    }

    /// The state of the unit of this kind and label ("running", "done",
    /// "failed"), or "absent".
    fn state_of(&self, kind: &str, label: &str) -> String {
        self.units(kind)
            .iter()
            .find(|u| u["label"] == label)
            .map_or("absent".into(), |u| {
                u["state"].as_str().unwrap().to_string()
            })
    }

    fn tgt_sql(&self, sql: &str) -> String {
        self.tgt.psql("dst", sql)
    }

    /// `--resume` completes and the target equals the source, which was
    /// never written to.
    fn resume_verifies(&self) {
        let out = self
            .clone("")
            .args(["--resume", "--not-consistent"])
            .output()
            .unwrap();
        support::assert_success(&out, "pgcopydb clone --resume");
        verify::assert_equal(&self.src, "src", &self.tgt, "dst");
        self.src.assert_no_statements_since(self.from);
    }
}

#[test]
fn crash_after_pre_data_restores_it_again() {
    let run = Run::new();
    run.crash_at("pre-data-restored");
    // pg_restore committed the tables; the state has not recorded it, and
    // no data unit has started.
    assert_eq!(run.state_of("step", "pre-data restore"), "running");
    assert_eq!(
        run.tgt_sql("SELECT to_regclass('public.big') IS NOT NULL"),
        "t"
    );
    assert!(run.units("table").is_empty() && run.units("table part").is_empty());
    run.resume_verifies();
}

#[test]
fn crash_after_a_table_copy_commits_copies_it_again() {
    let run = Run::new();
    let table = run.crash_at("table-copied");
    // Its rows are in the target, but the state still has it running: the
    // resume must copy it again without duplicating them.
    assert_eq!(run.state_of("table", &table), "running");
    let count = format!("SELECT count(*) FROM {table}");
    assert_eq!(run.tgt_sql(&count), run.src.psql("src", &count));
    run.resume_verifies();
}

#[test]
fn an_error_after_a_table_copy_leaves_it_for_resume() {
    let run = Run::new();
    let table = run.error_at("table-copied", "table-copied=error");
    assert_ne!(run.state_of("table", &table), "done");
    run.resume_verifies();
}

#[test]
fn crash_after_a_part_commits_copies_that_part_again() {
    let run = Run::new();
    let part = run.crash_at("part-copied");
    assert!(part.starts_with("public.big (part "), "{part}");
    assert_eq!(run.state_of("table part", &part), "running");
    assert_ne!(run.state_of("table", "public.big"), "done");
    assert_ne!(run.tgt_sql("SELECT count(*) FROM big"), "0");
    run.resume_verifies();
}

#[test]
fn killed_between_parts_resumes_the_parts_left() {
    let run = Run::new();
    let (mut child, part) = run.pause_at("between-parts");
    // One part recorded, the table not complete.
    let parts = run.units("table part");
    let done: Vec<&serde_json::Value> = parts.iter().filter(|u| u["state"] == "done").collect();
    assert_eq!(done.len(), 1, "{parts:#?}");
    assert_eq!(done[0]["label"], part.as_str());
    assert_ne!(run.state_of("table", "public.big"), "done");
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    run.resume_verifies();
}

#[test]
fn killed_after_an_index_builds_resumes_with_it_built() {
    let run = Run::new();
    let (mut child, index) = run.pause_at("index-built");
    // Built and valid on the target, not recorded.
    assert_eq!(run.state_of("index", &index), "running");
    assert_eq!(
        run.tgt_sql(&format!(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{index}')"
        )),
        "t"
    );
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    run.resume_verifies();
}

#[test]
fn an_error_after_an_index_builds_fails_the_run_then_resume_completes() {
    let run = Run::new();
    let index = run.error_at("index-built", "index-built=error");
    assert_ne!(run.state_of("index", &index), "done");
    run.resume_verifies();
}

#[test]
fn an_error_after_constraints_attach_fails_the_unit_then_resume_completes() {
    let run = Run::new();
    let table = run.error_at("constraints-attached", "constraints-attached=error");
    // The unit failed, its primary key is attached on the target.
    assert_eq!(run.state_of("constraints", &table), "failed");
    assert_eq!(
        run.tgt_sql(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('{table}') \
              AND contype = 'p'"
        )),
        "1"
    );
    run.resume_verifies();
}

#[test]
fn crash_after_a_foreign_key_is_added_resumes() {
    let run = Run::new();
    let key = run.crash_at("foreign-key-added");
    assert_eq!(run.state_of("foreign key", &key), "running");
    let (table, name) = key.split_once(' ').expect("table and key name");
    assert_eq!(
        run.tgt_sql(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass('{table}') \
              AND conname = '{name}' AND contype = 'f'"
        )),
        "1"
    );
    run.resume_verifies();
}

#[test]
fn crash_after_sequences_are_set_sets_them_again() {
    let run = Run::new();
    run.crash_at("sequences-set");
    // Set on the target; the run had not reached post-data.
    assert_eq!(run.tgt_sql("SELECT last_value FROM standalone"), "4242");
    assert_ne!(run.state_of("step", "post-data restore"), "done");
    run.resume_verifies();
}

#[test]
fn crash_after_a_batch_of_large_objects_copies_it_again() {
    let run = Run::new();
    // One large-object worker: another's commit cannot slip in before the crash.
    let out = run
        .clone("large-object-copied=crash")
        .args(["--large-objects-jobs", "1"])
        .output()
        .unwrap();
    run.points.expect_reached("large-object-copied", &out);
    // The five are one batch: committed on the target with their contents
    // (pre-data created all five, empty), none recorded.
    assert!(run.units("blob").is_empty(), "{:#?}", run.units("blob"));
    assert_eq!(
        run.tgt_sql("SELECT count(DISTINCT loid) FROM pg_largeobject"),
        "5"
    );
    run.resume_verifies();
}

#[test]
fn crash_after_post_data_restores_what_is_left() {
    let run = Run::new();
    run.crash_at("post-data-restored");
    // Every table in, post-data committed (the trigger is there), not recorded.
    assert_eq!(run.state_of("step", "post-data restore"), "running");
    assert!(run.units("table").iter().all(|u| u["state"] == "done"));
    assert_eq!(
        run.tgt_sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'mid_touch'"),
        "1"
    );
    run.resume_verifies();
}

#[test]
fn a_misspelt_failpoint_is_refused() {
    let points = Failpoints::new();
    let mut cmd = pgcopydb();
    cmd.args([
        "ping",
        "--source",
        "postgres://nowhere/a",
        "--target",
        "postgres://nowhere/b",
    ]);
    let out = points.arm(&mut cmd, "table-copyed=crash").output().unwrap();
    support::assert_fails(&out, 1, "table-copied");
}

#[test]
fn resume_refuses_other_source_and_needs_a_snapshot_or_not_consistent() {
    // A run that died with a table copied and not recorded; and another
    // database on its source.
    let mut run = Run::new();
    run.src.create_db("other");
    run.from = run.src.log_len();
    run.crash_at("table-copied");
    let (src, tgt, dir) = (&run.src, &run.tgt, &run.dir);

    // Without a flag: refused, naming both.
    let out = run.clone("").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains("--restart"),
        "{stderr}"
    );
    // The snapshot of the dead run is gone: say so, suggest --not-consistent.
    let out = run.clone("").arg("--resume").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--not-consistent"), "{stderr}");
    // Another source: refused, naming the setting.
    let out = pgcopydb()
        .args([
            "clone",
            "--resume",
            "--not-consistent",
            "--source",
            &src.uri("other"),
        ])
        .args(["--target", &tgt.uri("dst"), "--dir"])
        .arg(dir.path())
        .args([
            "--split-tables-larger-than",
            "1MB",
            "--split-max-parts",
            "4",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--source"), "{stderr}");
    // And the real resume completes.
    run.resume_verifies();
}
