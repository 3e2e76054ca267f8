//! The sort memory of index builds (`maintenance_work_mem`): sized from the
//! target's available memory and the number of index jobs, unless the
//! target's administrator configured it, in which case it is kept.
//! Checked in the target server's own statement log.

mod support;

use support::{pgcopydb, verify, workdir, Cluster};

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

fn clone(src: &Cluster, tgt: &Cluster, jobs: &str) {
    let dir = workdir();
    let out = pgcopydb()
        .args([
            "clone",
            "--source",
            &src.uri("m"),
            "--target",
            &tgt.uri("m"),
        ])
        .arg("--dir")
        .arg(dir.path())
        .args(["--index-jobs", jobs])
        .output()
        .expect("run pgcopydb");
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
    clone(&src, &tgt, "8");
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
    clone(&src, &tgt, "8");
    verify::assert_equal(&src, "m", &tgt, "m");
    let set = memory_settings(&tgt, from);
    assert!(set.is_empty(), "configured setting overridden: {set:?}");
}
