//! The connection budget: at most table-jobs + index-jobs + 2 connections to
//! the target and table-jobs + 2 to the source, counted from the servers' own
//! connection logs; jobs lowered (or the run refused with --fail-fast) when
//! a limit would not let them all in; a full server waited out.

use crate::support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

use crate::support::{pgbin, pgcopydb, verify, workdir, Cluster};

const LOG_SESSIONS: &[(&str, &str)] = &[("log_connections", "on"), ("log_disconnections", "on")];

/// Tables whose copies, index builds and ANALYZEs overlap, owned by
/// `owner` (created when not postgres).
fn fill(src: &Cluster, owner: &str) {
    let mut sql = String::new();
    if owner != "postgres" {
        src.psql("postgres", &format!("CREATE ROLE {owner} LOGIN"));
    }
    src.psql("postgres", &format!("CREATE DATABASE db OWNER {owner}"));
    sql.push_str(&format!("SET ROLE {owner};"));
    for i in 0..8 {
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id bigserial PRIMARY KEY, a int, b text, c timestamptz);\
             INSERT INTO t{i} (a, b, c) SELECT g % 1000, md5(g::text), now() \
               FROM generate_series(1, {rows}) g;\
             CREATE INDEX ON t{i} (a); CREATE INDEX ON t{i} (b); CREATE INDEX ON t{i} (c, a);",
            rows = 20_000 + i * 5_000
        ));
    }
    src.psql("db", &sql);
}

/// The most sessions of pgcopydb (application_name=pgcopydb) open at once in
/// the part of `cluster`'s log after byte `from`, in log order.
fn peak_sessions(cluster: &Cluster, from: u64) -> usize {
    let log = std::fs::read(cluster.log_path()).unwrap_or_default();
    let text = String::from_utf8_lossy(&log[(from as usize).min(log.len())..]);
    let pid_of = |line: &str| -> Option<String> {
        let start = line.find('[')? + 1;
        let end = start + line[start..].find(']')?;
        Some(line[start..end].to_string())
    };
    let (mut open, mut peak) = (HashSet::new(), 0);
    for line in text.lines() {
        if line.contains("connection authorized") && line.contains("application_name=pgcopydb") {
            if let Some(pid) = pid_of(line) {
                open.insert(pid);
                peak = peak.max(open.len());
            }
        } else if line.contains("disconnection: session time") {
            if let Some(pid) = pid_of(line) {
                open.remove(&pid);
            }
        }
    }
    peak
}

fn clone(src: &Cluster, target_uri: &str, jobs: usize, extra: &[&str]) -> Output {
    let dir = workdir();
    pgcopydb()
        .args(["clone", "--source", &src.uri("db"), "--target", target_uri])
        .args(["--table-jobs", &jobs.to_string()])
        .args(["--index-jobs", &jobs.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .args(extra)
        .env("PGCOPYDB_RETRY_DELAY_MS", "200")
        .output()
        .expect("run pgcopydb clone")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn connections_per_side_stay_within_the_jobs() {
    let src = Cluster::start_with(&pgbin(), LOG_SESSIONS);
    fill(&src, "postgres");
    for jobs in [2, 4, 8] {
        let tgt = Cluster::start_with(&pgbin(), LOG_SESSIONS);
        tgt.create_db("db");
        let (src_from, tgt_from) = (src.log_len(), tgt.log_len());
        let out = clone(&src, &tgt.uri("db"), jobs, &[]);
        support::assert_success(&out, "pgcopydb clone");
        verify::assert_equal(&src, "db", &tgt, "db");
        let (source_peak, target_peak) =
            (peak_sessions(&src, src_from), peak_sessions(&tgt, tgt_from));
        eprintln!("jobs {jobs}: source peak {source_peak}, target peak {target_peak}");
        assert!(
            target_peak <= 2 * jobs + 2,
            "target: {target_peak} sessions at once with --table-jobs {jobs} --index-jobs {jobs}"
        );
        assert!(
            source_peak <= jobs + 2,
            "source: {source_peak} sessions at once with --table-jobs {jobs}"
        );
    }
}

/// A target database owned by a role that is not a superuser: CONNECTION
/// LIMITs apply to it.
fn limited_target(database_limit: Option<u32>, role_limit: Option<u32>) -> (Cluster, String) {
    let tgt = Cluster::start_with(&pgbin(), LOG_SESSIONS);
    tgt.psql(
        "postgres",
        &format!(
            "CREATE ROLE loader LOGIN PASSWORD '{pw}' CONNECTION LIMIT {role};\
             CREATE DATABASE db OWNER loader CONNECTION LIMIT {db};",
            pw = Cluster::PASSWORD,
            role = role_limit.map_or(-1, i64::from),
            db = database_limit.map_or(-1, i64::from),
        ),
    );
    let uri = tgt.uri("db").replace("//postgres:", "//loader:");
    (tgt, uri)
}

#[test]
fn jobs_are_lowered_to_fit_a_connection_limit() {
    let src = Cluster::start();
    fill(&src, "loader");
    for (database_limit, role_limit, named) in [
        (Some(7), None, "database \"db\" CONNECTION LIMIT 7"),
        (None, Some(6), "role \"loader\" CONNECTION LIMIT 6"),
    ] {
        let (tgt, uri) = limited_target(database_limit, role_limit);
        let from = tgt.log_len();
        let out = clone(&src, &uri, 4, &[]);
        support::assert_success(&out, "pgcopydb clone under a connection limit");
        let err = stderr(&out);
        assert!(err.contains(named), "no warning naming {named}:\n{err}");
        assert!(err.contains("running with --table-jobs"), "{err}");
        verify::assert_equal(&src, "db", &tgt, "db");
        let log = String::from_utf8_lossy(&std::fs::read(tgt.log_path()).unwrap_or_default())
            [from as usize..]
            .to_string();
        assert!(
            !log.contains("too many connections"),
            "a connection was refused:\n{log}"
        );
        let allowed = database_limit.or(role_limit).unwrap() as usize;
        assert!(peak_sessions(&tgt, from) <= allowed);
    }
}

#[test]
fn fail_fast_refuses_a_plan_that_does_not_fit() {
    let src = Cluster::start();
    fill(&src, "loader");
    let (tgt, uri) = limited_target(Some(6), None);
    let out = clone(&src, &uri, 4, &["--fail-fast"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("database \"db\" CONNECTION LIMIT 6"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Refused before writing anything.
    assert_eq!(
        tgt.psql("db", "SELECT count(*) FROM pg_class WHERE relname = 't0'"),
        "0"
    );
}

#[test]
fn a_small_max_connections_lowers_the_jobs() {
    let src = Cluster::start();
    fill(&src, "postgres");
    let mut settings = LOG_SESSIONS.to_vec();
    settings.push(("max_connections", "12"));
    let tgt = Cluster::start_with(&pgbin(), &settings);
    tgt.create_db("db");
    let from = tgt.log_len();
    let out = clone(&src, &tgt.uri("db"), 8, &[]);
    support::assert_success(&out, "pgcopydb clone with max_connections = 12");
    let err = stderr(&out);
    assert!(err.contains("max_connections 12"), "{err}");
    verify::assert_equal(&src, "db", &tgt, "db");
    assert!(peak_sessions(&tgt, from) <= 12);
}

#[test]
fn a_connection_refused_for_lack_of_slots_is_retried() {
    let src = Cluster::start();
    let (tgt, uri) = limited_target(None, Some(1));
    // Hold the role's only slot.
    let mut holder = std::process::Command::new(tgt.bindir.join("psql"))
        .args(["-X", "-q", "-d", &uri, "-c", "SELECT pg_sleep(600)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the session holding the slot");
    let held = || {
        tgt.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'loader'",
        )
    };
    while held() != "1" {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut ping = pgcopydb()
        .args(["ping", "--source", &src.uri("postgres"), "--target", &uri])
        .env("PGCOPYDB_RETRY_DELAY_MS", "200")
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgcopydb ping");
    let mut lines = BufReader::new(ping.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    // Once pgcopydb says it waits for a slot, free it.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("retrying in") {
            break;
        }
    }
    assert!(seen.contains("too many connections"), "{seen}");
    tgt.psql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'loader'",
    );
    let _ = holder.wait();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = ping.wait().unwrap();
    assert!(
        status.success(),
        "ping failed after the slot was freed:\n{seen}"
    );
}
