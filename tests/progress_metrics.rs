//! What the servers say of a running clone's work: the COPYs in flight
//! (`pg_stat_progress_copy`) and index builds (`pg_stat_progress_create_index`)
//! in `list progress` and at `--metrics-addr`'s `/metrics`.
//!
//! The moment is chosen by state: on the target, the COPY into `copying`
//! (a row trigger) and the index build of `indexed` (its expression) wait
//! for an advisory lock the test holds; the test polls `/metrics` until the
//! sampler reports both, reads `list progress`, then lets the clone finish.

use crate::support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::hold::{self, HeldLock, LOCK};
use crate::support::{free_port, pgcopydb, verify, workdir, Cluster};

/// `copying` (40 MB of COPY text) is more than the sockets between the
/// servers and pgcopydb buffer: its source COPY is still running while the
/// target's waits (on `support::hold`'s lock). The expression of
/// `indexed_wait` waits on the same lock.
fn source_sql() -> String {
    format!(
        "CREATE FUNCTION wait_for_lock(n int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
         BEGIN
           PERFORM pg_advisory_lock_shared({LOCK});
           PERFORM pg_advisory_unlock_shared({LOCK});
           RETURN n;
         END $$;
         CREATE TABLE copying (id int PRIMARY KEY, v text);
         INSERT INTO copying SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g;
         CREATE TABLE indexed (id int, v text);
         INSERT INTO indexed SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
         CREATE INDEX indexed_wait ON indexed (wait_for_lock(id));"
    )
}

/// The original's keys on what `list progress --json` shows in progress:
/// the copy of `copying` and the build of `indexed_wait`, both held.
fn in_progress_items_have_the_original_keys(doc: &Value) {
    let item = |kind: &str, name: &str| -> Value {
        doc[kind]["in-progress"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in progress: {doc:#}"))
    };
    let copy = item("tables", "copying");
    for key in [
        "reltuples",
        "bytes",
        "bytes-pretty",
        "exclude-data",
        "part-key",
    ] {
        assert!(copy.get(key).is_some(), "{key}: {copy:#}");
    }
    let restore_name = copy["restore-list-name"].as_str().unwrap_or_default();
    assert!(restore_name.starts_with("public copying "), "{copy:#}");
    assert!(copy["process"]["pid"].as_u64() > Some(0), "{copy:#}");
    assert!(copy["process"]["start-time-string"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let build = item("indexes", "indexed_wait");
    for key in ["isPrimary", "isUnique", "columns", "restore-list-name"] {
        assert!(build.get(key).is_some(), "{key}: {build:#}");
    }
    assert!(
        build["sql"]
            .as_str()
            .is_some_and(|s| s.contains("wait_for_lock")),
        "{build:#}"
    );
    assert_eq!(build["table"]["name"], "indexed", "{build:#}");
}

/// The clone under watch, killed if the test fails before it ends (its
/// servers go with the test).
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll `state` until it is Ok (guarded against a hang); its last Err says
/// where things were instead.
fn wait_for_state(what: &str, mut state: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    while let Err(now) = state() {
        assert!(
            started.elapsed() < crate::support::follow::HANG_GUARD,
            "never reached: {what}; last seen:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` on 127.0.0.1:`port`: the status line and the body, or None
/// while nothing answers.
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The value of the sample of `/metrics` whose line starts with `prefix`
/// (the name and labels).
fn metric(page: &str, prefix: &str) -> Option<i64> {
    page.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

const TARGET_COPY: &str = "pgcopydb_copy_bytes_processed{side=\"target\",table=\"public.copying\"}";
const SOURCE_COPY: &str = "pgcopydb_copy_bytes_processed{side=\"source\",table=\"public.copying\"}";
const INDEX_BLOCKS: &str = "pgcopydb_index_build_blocks_total{index=\"public.indexed_wait\",table=\"public.indexed\",phase=\"building index: scanning table\"}";

#[test]
fn a_running_clone_shows_its_copies_and_index_builds_in_list_progress_and_metrics() {
    watch_a_held_clone(&Cluster::start(), true);
}

/// PostgreSQL 13 has no `pg_stat_progress_copy`: from a 13 source, the
/// source's COPYs are left out without a word, the rest is shown.
#[test]
fn a_postgres_13_source_is_sampled_without_its_copies() {
    let src = Cluster::start_with(&pg13_bin(), &[]);
    assert_eq!(src.major(), 13);
    let out = watch_a_held_clone(&src, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("is not shown"), "{stderr}");
}

/// PostgreSQL 13's programs: `PGCOPYDB_TEST_PG13_BIN` (as `tests/cross_version.rs`
/// reads it), else where `scripts/fetch-postgres 13` puts them.
fn pg13_bin() -> std::path::PathBuf {
    std::env::var_os("PGCOPYDB_TEST_PG13_BIN")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/opt/pgcopydb-test/pg13/bin".into())
}

/// Clone `src` into a new PostgreSQL 15 with the COPY of `copying` and the
/// build of `indexed_wait` held on the test's lock; check what `/metrics` and
/// `list progress` say meanwhile (the source's COPY when `source_copies`),
/// then let the clone finish. Returns its output.
fn watch_a_held_clone(src: &Cluster, source_copies: bool) -> std::process::Output {
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql("src", &source_sql());
    tgt.create_db("dst");
    hold::install(&tgt, "dst", "copying");
    let dir = workdir();
    let port = free_port();
    let lock = HeldLock::take(&tgt, "dst");
    let mut child = Running(Some(
        pgcopydb()
            .args(["clone", "--table-jobs", "2", "--index-jobs", "2"])
            .args(["--source", &src.uri("src"), "--target", &tgt.uri("dst")])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pgcopydb clone"),
    ));

    // Both pieces of work wait on the lock; the sampler reports them.
    let mut page = String::new();
    wait_for_state("the copy and the index build in /metrics", || {
        page = http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let both = metric(&page, TARGET_COPY).is_some_and(|b| b > 0)
            && (!source_copies || metric(&page, SOURCE_COPY).is_some_and(|b| b > 0))
            && metric(&page, INDEX_BLOCKS).is_some_and(|b| b > 0);
        both.then_some(()).ok_or_else(|| page.clone())
    });
    assert_eq!(
        metric(&page, SOURCE_COPY).is_some(),
        source_copies,
        "{page}"
    );
    assert_eq!(metric(&page, "pgcopydb_tables "), Some(2), "{page}");
    assert_eq!(metric(&page, "pgcopydb_indexes "), Some(2), "{page}");
    assert_eq!(metric(&page, "pgcopydb_errors_total "), Some(0), "{page}");
    assert!(
        metric(&page, "pgcopydb_tables_copying ") >= Some(1),
        "{page}"
    );
    assert!(
        page.contains("# TYPE pgcopydb_index_build_blocks_done gauge"),
        "{page}"
    );
    assert!(!page.contains(&src.port.to_string()) && !page.contains(Cluster::PASSWORD));
    let (status, _) = http_get(port, "/other").expect("an answer");
    assert!(status.contains("404"), "{status}");

    // `list progress`, another process, reads the same sample.
    let doc = support::list_progress(dir.path());
    in_progress_items_have_the_original_keys(&doc);
    let in_flight = &doc["in_flight"];
    let copies = in_flight["copies"].as_array().expect("in_flight.copies");
    assert!(
        copies.iter().any(|c| c["table"] == "public.copying"
            && c["side"] == "target"
            && c["bytes_processed"].as_i64() > Some(0)),
        "{in_flight:#}"
    );
    let builds = in_flight["indexes"].as_array().expect("in_flight.indexes");
    let build = builds
        .iter()
        .find(|b| b["index"] == "public.indexed_wait")
        .unwrap_or_else(|| panic!("no build of indexed_wait: {in_flight:#}"));
    assert_eq!(build["table"], "public.indexed");
    assert_eq!(build["phase"], "building index: scanning table");
    assert!(build["blocks_total"].as_i64() > Some(0), "{build:#}");
    assert!(build["tuples_done"].is_i64(), "{build:#}");
    let text = pgcopydb()
        .args(["list", "progress", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run list progress");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "index public.indexed_wait on public.indexed: building index: scanning table"
        ),
        "{text}"
    );
    assert!(text.contains("copy public.copying (target): "), "{text}");

    drop(lock);
    let out = child
        .0
        .take()
        .expect("the clone")
        .wait_with_output()
        .expect("wait for pgcopydb");
    support::assert_success(&out, "clone");
    // A finished run has nothing in flight.
    assert_eq!(support::list_progress(dir.path())["in_flight"], Value::Null);
    hold::uninstall(&tgt, "dst", "copying");
    verify::assert_equal(src, "src", &tgt, "dst");
    out
}

#[test]
fn a_metrics_address_in_use_stops_the_run_before_anything_is_written() {
    let (src, tgt) = support::source_and_target("db");
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = busy.local_addr().expect("local address").to_string();
    let dir = workdir();
    let out = support::clone_between(
        (&src, "db"),
        (&tgt, "db"),
        dir.path(),
        &["--metrics-addr", &addr],
    );
    support::assert_fails(&out, 1, "--metrics-addr");
    assert!(
        !dir.path().join("pgcopydb.db").exists(),
        "the work directory was written"
    );
    let out = support::clone_between(
        (&src, "db"),
        (&tgt, "db"),
        dir.path(),
        &["--metrics-addr", "not-an-address"],
    );
    support::assert_fails(&out, 1, "--metrics-addr not-an-address");
}

/// `clone --follow --metrics-addr`: once the copy is done, the follow's
/// positions and counts are served too, as they advance.
#[test]
fn a_follow_serves_its_positions() {
    let src = Cluster::start_with(
        &support::pgbin(),
        &[
            ("wal_level", "logical"),
            ("max_replication_slots", "4"),
            ("max_wal_senders", "4"),
        ],
    );
    let tgt = Cluster::start();
    src.create_db("src");
    tgt.create_db("dst");
    src.psql("src", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let dir = workdir();
    let port = free_port();
    let mut child = Running(Some(
        pgcopydb()
            .args(["clone", "--follow"])
            .args(["--source", &src.uri("src"), "--target", &tgt.uri("dst")])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pgcopydb clone --follow"),
    ));
    // A change made once the follow applies reaches the metrics.
    wait_for_state("the follow applying", || {
        let page = http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        page.contains("pgcopydb_cdc_applied_lsn ")
            .then_some(())
            .ok_or(page)
    });
    src.psql(
        "src",
        "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g",
    );
    wait_for_state("the change applied, in /metrics", || {
        let page = http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let applied = metric(&page, "pgcopydb_cdc_rows_total ").is_some_and(|n| n >= 10)
            && metric(&page, "pgcopydb_cdc_applied_lsn ").is_some_and(|l| l > 0)
            && metric(&page, "pgcopydb_cdc_received_lsn ").is_some_and(|l| l > 0);
        applied.then_some(()).ok_or(page)
    });
    let out = pgcopydb()
        .args(["stream", "sentinel", "set", "endpos", "--current"])
        .args(["--source", &src.uri("src"), "--dir"])
        .arg(dir.path())
        .output()
        .expect("run sentinel set endpos");
    support::assert_success(&out, "stream sentinel set endpos --current");
    let out = child
        .0
        .take()
        .expect("the clone")
        .wait_with_output()
        .expect("wait for pgcopydb");
    support::assert_success(&out, "clone --follow");
    assert_eq!(tgt.psql("dst", "SELECT count(*) FROM t"), "10");
}
