//! Interruptions: SIGKILL at many points, SIGINT, a target that goes away.
//! After each, `--resume` must finish and the target must verify equal to
//! the source; the source must never be written to.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{pgcopydb, verify, workdir, Cluster};

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

/// What the run was doing, from its own state (for the test's log only).
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

/// Start a clone into `dst` (stderr kept for the test to read) and return
/// once it has a table copy in flight.
fn clone_until_copying(src: &Cluster, tgt: &Cluster, dir: &Path) -> Child {
    let mut child = clone_cmd(src, tgt, "dst", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_copy(dir, &mut child);
    child
}

/// The dataset's source, an empty target database `dst`, and a clone into
/// it with a table copy in flight.
fn a_clone_copying() -> (Cluster, Cluster, tempfile::TempDir, Child) {
    let src = source_with_dataset();
    let tgt = Cluster::start();
    tgt.create_db("dst");
    let dir = workdir();
    let child = clone_until_copying(&src, &tgt, dir.path());
    (src, tgt, dir, child)
}

/// Wait until the run has a table copy in flight.
fn wait_for_copy(dir: &Path, child: &mut Child) {
    let started = Instant::now();
    while !phase(dir).contains("table ") {
        assert!(
            child.try_wait().unwrap().is_none(),
            "clone ended before copying"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no copy started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_at_many_points_then_resume_verifies() {
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

    let points = 20;
    let mut phases = Vec::new();
    for i in 0..points {
        let db = format!("kill{i}");
        tgt.create_db(&db);
        let dir = workdir();
        let mut child = clone_cmd(&src, &tgt, &db, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = full.mul_f64(0.8 * (i as f64 + 0.5) / points as f64);
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
    let (src, tgt, dir, mut child) = a_clone_copying();
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("--resume"), "{stderr}");
    // Nothing of ours keeps running on either server.
    for (c, db) in [(&src, "src"), (&tgt, "dst")] {
        let active = c.psql(
            db,
            "SELECT count(*) FROM pg_stat_activity \
              WHERE application_name IN ('pgcopydb', 'pg_dump', 'pg_restore') AND state = 'active'",
        );
        assert_eq!(active, "0", "queries still running on port {}", c.port);
    }
    support::assert_success(&resume(&src, &tgt, "dst", dir.path()), "pgcopydb");
    verify::assert_equal(&src, "src", &tgt, "dst");
}

#[test]
fn target_stopping_mid_copy_fails_clearly_then_resumes() {
    let (src, tgt, dir, mut child) = a_clone_copying();
    tgt.stop();
    let status = wait_exit(&mut child, Duration::from_secs(120));
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
    support::assert_success(&resume(&src, &tgt, "dst", dir.path()), "pgcopydb");
    verify::assert_equal(&src, "src", &tgt, "dst");
}

#[test]
fn resume_refuses_other_source_and_needs_a_snapshot_or_not_consistent() {
    let (src, tgt, dir, mut child) = a_clone_copying();
    signal(&child, libc::SIGKILL);
    let _ = child.wait();

    // Without a flag: refused, naming both.
    let out = clone_cmd(&src, &tgt, "dst", dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains("--restart"),
        "{stderr}"
    );
    // The snapshot of the dead run is gone: say so, suggest --not-consistent.
    let out = clone_cmd(&src, &tgt, "dst", dir.path())
        .arg("--resume")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--not-consistent"), "{stderr}");
    // Another source: refused, naming the setting.
    src.create_db("other");
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
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--source"), "{stderr}");
    // And the real resume completes.
    support::assert_success(&resume(&src, &tgt, "dst", dir.path()), "pgcopydb");
    verify::assert_equal(&src, "src", &tgt, "dst");
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
    let (_src, _tgt, _dir, mut child) = a_clone_copying();
    signal(&child, libc::SIGINT);
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
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    drain.join().unwrap();
    // 130 is the immediate exit; an orderly stop after the first signal is 3.
    assert_eq!(status.code(), Some(130), "{status}");
}
