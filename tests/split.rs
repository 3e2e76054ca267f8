//! Same-table concurrency: tables above `--split-tables-larger-than` are
//! copied in parts (integer key ranges, or ctid page ranges without such a
//! key), and the result is the same table. A run killed mid-split resumes.

use crate::support;

use std::process::{Command, Stdio};

use crate::support::{pgcopydb, verify, workdir, Cluster};

const DATASET: &str = "
CREATE TABLE keyed (id bigint PRIMARY KEY, v text, n numeric);
INSERT INTO keyed SELECT g, md5(g::text), g / 3.0 FROM generate_series(1, 200000) g;
CREATE INDEX keyed_v ON keyed (v);
CREATE TABLE nullable_key (id int UNIQUE, v text);
INSERT INTO nullable_key SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE g END, repeat('x', 30)
  FROM generate_series(1, 100000) g;
CREATE TABLE heap_only (a text, b int);
INSERT INTO heap_only SELECT md5(g::text), g FROM generate_series(1, 150000) g;
CREATE TABLE toasty (id int PRIMARY KEY, doc text);
INSERT INTO toasty SELECT g, (SELECT string_agg(md5((g * 1000 + i)::text), '') FROM generate_series(1, 200) i)
  FROM generate_series(1, 2000) g;
";

fn clone_cmd(src: &Cluster, tgt: &Cluster, dir: &std::path::Path) -> Command {
    let mut cmd = pgcopydb();
    cmd.args([
        "clone",
        "--source",
        &src.uri("src"),
        "--target",
        &tgt.uri("dst"),
    ])
    .args([
        "--split-tables-larger-than",
        "2MB",
        "--split-max-parts",
        "6",
    ])
    .arg("--dir")
    .arg(dir);
    cmd
}

fn parts_done(dir: &std::path::Path) -> Vec<String> {
    // Before the run records anything there is no state to read yet.
    let Some(doc) = support::try_list_progress(dir) else {
        return Vec::new();
    };
    doc["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u["kind"] == "table part" && u["state"] == "done")
        .map(|u| u["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn split_tables_copy_equal_by_key_and_by_ctid() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", DATASET);
    tgt.create_db("dst");
    let dir = workdir();
    support::assert_success(
        &clone_cmd(&src, &tgt, dir.path()).output().unwrap(),
        "pgcopydb",
    );
    verify::assert_equal(&src, "src", &tgt, "dst");
    let parts = parts_done(dir.path());
    for table in [
        "public.keyed",
        "public.nullable_key",
        "public.heap_only",
        "public.toasty",
    ] {
        assert!(
            parts
                .iter()
                .filter(|p| p.starts_with(&format!("{table} (part ")))
                .count()
                >= 2,
            "{table} was not split: {parts:?}"
        );
    }
}

#[test]
fn a_split_copy_killed_midway_resumes_equal() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", DATASET);
    tgt.create_db("dst");
    let dir = workdir();
    let points = support::failpoints::Failpoints::new();
    let mut cmd = clone_cmd(&src, &tgt, dir.path());
    cmd.args(["--table-jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Killed once a part is in and recorded while others of its table are not.
    let mut child = points.arm(&mut cmd, "between-parts=pause").spawn().unwrap();
    let part = points.wait_reached("between-parts", &mut child);
    assert!(parts_done(dir.path()).contains(&part), "{part}");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let out = clone_cmd(&src, &tgt, dir.path())
        .args(["--resume", "--not-consistent"])
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb");
    verify::assert_equal(&src, "src", &tgt, "dst");
}
