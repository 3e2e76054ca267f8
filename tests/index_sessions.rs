//! The settings of index-build sessions, checked in the target server's own
//! statement log: the sort memory (`maintenance_work_mem`), sized from the
//! target's available memory and the number of index jobs unless the
//! target's administrator configured it, and parallel workers, off while
//! tables are still copying and the server's default afterwards.

use crate::support;

use std::process::Stdio;

use crate::support::hold::{self, wait_until, HeldLock};
use crate::support::{verify, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE item (id int PRIMARY KEY, label text NOT NULL, qty int);
CREATE INDEX item_label_idx ON item (label);
INSERT INTO item SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 5000) g;
";

/// The `maintenance_work_mem` values pgcopydb set on the target, in MB.
fn memory_settings(tgt: &Cluster, from: u64) -> Vec<u64> {
    let log = std::fs::read(tgt.log_path()).expect("target log");
    let text = String::from_utf8_lossy(&log[from as usize..]);
    text.lines()
        .filter_map(|l| l.split("SET maintenance_work_mem = '").nth(1))
        .map(|rest| {
            rest.split("MB'")
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected setting: {rest}"))
        })
        .collect()
}

fn clone(src: &Cluster, tgt: &Cluster, extra: &[&str]) {
    let dir = workdir();
    let out = support::clone_between((src, "m"), (tgt, "m"), dir.path(), extra);
    support::assert_success(&out, "clone");
}

#[test]
fn index_memory_is_sized_from_the_target_or_kept_when_configured() {
    let src = Cluster::start();
    let tgt = Cluster::start_with(&support::pgbin(), &[("log_statement", "all")]);
    src.create_db("m");
    src.psql("m", SOURCE);

    // Default setting: a budget per job from the memory the target's machine
    // has available (readable by a superuser), within [64MB, 1GB].
    tgt.create_db("m");
    let from = tgt.log_len();
    clone(&src, &tgt, &["--index-jobs", "8"]);
    verify::assert_equal(&src, "m", &tgt, "m");
    let set = memory_settings(&tgt, from);
    assert!(!set.is_empty(), "no maintenance_work_mem set on the target");
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let available_mb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("MemAvailable")
        / 1024;
    let expected = (available_mb / 4 / 8).clamp(64, 1024);
    for mb in &set {
        // The machine's free memory moves a little between the two readings.
        assert!(
            mb.abs_diff(expected) <= expected / 10 + 1,
            "{mb}MB set, about {expected}MB expected"
        );
    }

    // Configured by the target's administrator: left as it is.
    tgt.psql("postgres", "DROP DATABASE m");
    tgt.create_db("m");
    tgt.psql(
        "postgres",
        "ALTER ROLE postgres SET maintenance_work_mem = '100MB'",
    );
    let from = tgt.log_len();
    clone(&src, &tgt, &["--index-jobs", "8"]);
    verify::assert_equal(&src, "m", &tgt, "m");
    let set = memory_settings(&tgt, from);
    assert!(set.is_empty(), "configured setting overridden: {set:?}");
}

/// Per CREATE INDEX since `from` in the target's log: the table it is on
/// (`big` or else `small`) and the parallel-workers setting in force in its
/// session.
fn worker_settings(tgt: &Cluster, from: u64) -> Vec<(String, String)> {
    let log = std::fs::read(tgt.log_path()).expect("target log");
    let text = String::from_utf8_lossy(&log[from as usize..]);
    let mut setting: std::collections::HashMap<String, String> = Default::default();
    let mut builds: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some((pid, statement)) = line
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .and_then(|(pid, rest)| Some((pid.to_string(), rest.split_once("statement: ")?.1)))
        else {
            continue;
        };
        if let Some(value) = statement.strip_prefix("SET max_parallel_maintenance_workers = ") {
            setting.insert(pid, value.to_string());
        } else if statement.starts_with("CREATE UNIQUE INDEX")
            || statement.starts_with("CREATE INDEX")
        {
            let table = if statement.contains(" ON public.big ") {
                "big"
            } else {
                "small"
            };
            let value = setting.get(&pid).cloned().unwrap_or_else(|| "unset".into());
            builds.push((table.to_string(), value));
        }
    }
    builds
}

/// The settings of the builds on `table`.
fn of<'a>(builds: &'a [(String, String)], table: &str) -> Vec<&'a str> {
    builds
        .iter()
        .filter(|(t, _)| t == table)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The number of indexes `public.<table>` has in `db` (0 while it does not
/// exist): an index is there once its build has committed.
fn indexes_on(tgt: &Cluster, db: &str, table: &str) -> u32 {
    tgt.psql(
        db,
        &format!("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass('public.{table}')"),
    )
    .parse()
    .expect("a count")
}

/// Run `cmd` (a clone) with the COPY into `big` of `held_db` held on the
/// target until `small` of `small_db` has both its indexes: they are built
/// while a table is still copying, whatever the speed of the machine.
fn clone_with_big_held(
    cmd: &mut std::process::Command,
    tgt: &Cluster,
    held_db: &str,
    small_db: &str,
) {
    let lock = HeldLock::take(tgt, held_db);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgcopydb");
    wait_until("small's indexes built while big's COPY waits", || {
        hold::copy_waiting(tgt, held_db, "big") && indexes_on(tgt, small_db, "small") == 2
    });
    drop(lock);
    let out = child.wait_with_output().expect("wait for pgcopydb");
    support::assert_success(&out, "clone");
    hold::uninstall(tgt, held_db, "big");
}

#[test]
fn builds_use_no_parallel_workers_while_tables_copy() {
    let src = Cluster::start();
    let tgt = Cluster::start_with(&support::pgbin(), &[("log_statement", "all")]);
    src.create_db("m");
    src.psql(
        "m",
        "CREATE TABLE big (id int PRIMARY KEY, payload text);
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
         CREATE TABLE small (id int PRIMARY KEY, label text);
         CREATE INDEX small_label_idx ON small (label);
         INSERT INTO small SELECT g, 'l' || g FROM generate_series(1, 10) g;",
    );
    tgt.create_db("m");
    hold::install(&tgt, "m", "big");
    let from = tgt.log_len();
    let dir = workdir();
    let mut cmd = support::runner::clone_command(
        (&src, "m"),
        (&tgt, "m"),
        dir.path(),
        &["--table-jobs", "2", "--index-jobs", "2"],
    );
    clone_with_big_held(&mut cmd, &tgt, "m", "m");
    verify::assert_equal(&src, "m", &tgt, "m");

    let builds = worker_settings(&tgt, from);
    assert_eq!(of(&builds, "small"), vec!["0", "0"], "{builds:?}");
    assert_eq!(of(&builds, "big"), vec!["DEFAULT"], "{builds:?}");
}

#[test]
fn all_databases_builds_wait_for_the_copies_of_every_database() {
    let src = Cluster::start();
    let tgt = Cluster::start_with(&support::pgbin(), &[("log_statement", "all")]);
    // Database a copies a big table while database b, copied alongside,
    // builds its small table's indexes.
    src.create_db("a");
    src.psql(
        "a",
        "CREATE TABLE big (id int PRIMARY KEY, payload text);
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;",
    );
    src.create_db("b");
    src.psql(
        "b",
        "CREATE TABLE small (id int PRIMARY KEY, label text);
         CREATE INDEX small_label_idx ON small (label);
         INSERT INTO small SELECT g, 'l' || g FROM generate_series(1, 10) g;",
    );
    // The target's a exists already (the run creates only what is
    // missing), with the hold on big.
    tgt.create_db("a");
    hold::install(&tgt, "a", "big");
    let from = tgt.log_len();
    let dir = workdir();
    let mut cmd = support::clone_all_databases(&src, &tgt, dir.path());
    clone_with_big_held(&mut cmd, &tgt, "a", "b");
    verify::assert_equal(&src, "a", &tgt, "a");
    verify::assert_equal(&src, "b", &tgt, "b");

    // b's own copies were over, a's were not.
    let builds = worker_settings(&tgt, from);
    assert_eq!(of(&builds, "small"), vec!["0", "0"], "{builds:?}");
    assert_eq!(of(&builds, "big"), vec!["DEFAULT"], "{builds:?}");
}
