//! Large objects copied in batches (src/blobs.rs): owners, privileges,
//! comments, empty ones and one bigger than a batch's byte bound, copied
//! whole, and across a crash between a batch's commit and its record.

use crate::support;

use crate::support::failpoints::Failpoints;
use crate::support::{pgcopydb, verify, workdir, Cluster};

/// 2,500 small objects (three batches of at most 1,000), every tenth one
/// empty, some owned by `app` with privileges for `reader` and a comment,
/// then one of 9 MB: more than a batch's 8 MB, streamed alone in chunks.
const OBJECTS: &str = "
SELECT lo_from_bytea(500000 + g, CASE WHEN g % 10 = 0 THEN ''::bytea
                                 ELSE decode(repeat(md5(g::text), 1 + g % 64), 'hex') END)
  FROM generate_series(1, 2500) g;
DO $$ BEGIN
  FOR g IN 1..2500 BY 97 LOOP
    EXECUTE format('ALTER LARGE OBJECT %s OWNER TO app', 500000 + g);
    EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO reader', 500000 + g);
    EXECUTE format('COMMENT ON LARGE OBJECT %s IS %L', 500000 + g, 'document ' || g);
  END LOOP;
END $$;
SELECT lo_from_bytea(900000, decode(repeat(md5('big'), 9 * 65536), 'hex'));
";

fn clusters() -> (Cluster, Cluster) {
    let (src, tgt) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    for c in [&src, &tgt] {
        c.psql("postgres", "CREATE ROLE app; CREATE ROLE reader");
    }
    src.create_db("src");
    src.psql("src", OBJECTS);
    tgt.create_db("dst");
    (src, tgt)
}

fn clone_cmd(src: &Cluster, tgt: &Cluster, dir: &std::path::Path) -> std::process::Command {
    let mut cmd = pgcopydb();
    cmd.args(["clone", "--large-objects-jobs", "1"])
        .args(["--source", &src.uri("src"), "--target", &tgt.uri("dst")])
        .arg("--dir")
        .arg(dir);
    cmd
}

#[test]
fn owners_privileges_comments_empty_and_big_ones_are_copied_whole() {
    let (src, tgt) = clusters();
    let dir = workdir();
    let out = clone_cmd(&src, &tgt, dir.path()).output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    verify::assert_equal(&src, "src", &tgt, "dst");
    // The clone made the objects itself: pg_restore restored none of them,
    // only their privileges and comments.
    let list = std::fs::read_to_string(dir.path().join("schema/pre-filtered.list")).unwrap();
    let restored = |desc: &str| {
        list.lines()
            .filter(|l| !l.starts_with(';') && l.contains(desc))
            .count()
    };
    assert_eq!(restored(" BLOB - "), 0, "{list}");
    assert_eq!(restored(" ACL - LARGE OBJECT "), 26, "{list}");
}

#[test]
fn a_crash_after_a_batch_commits_redoes_only_the_unrecorded_batches() {
    let (src, tgt) = clusters();
    let dir = workdir();
    let points = Failpoints::new();
    let mut cmd = clone_cmd(&src, &tgt, dir.path());
    let out = points
        .arm(&mut cmd, "large-object-copied=crash@2")
        .output()
        .unwrap();
    points.expect_reached("large-object-copied", &out);
    // The first batch recorded as a whole; the second committed on the
    // target (its objects have their contents) but not recorded.
    let blobs: Vec<_> = support::list_progress(dir.path())["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["kind"] == "blob" && u["state"] == "done")
        .cloned()
        .collect();
    assert_eq!(blobs.len(), 1000);
    assert_eq!(
        tgt.psql(
            "dst",
            "SELECT count(DISTINCT loid) FROM pg_largeobject WHERE loid <= 502000"
        ),
        "1800"
    );
    let out = clone_cmd(&src, &tgt, dir.path())
        .args(["--resume", "--not-consistent"])
        .output()
        .unwrap();
    support::assert_success(&out, "pgcopydb clone --resume");
    verify::assert_equal(&src, "src", &tgt, "dst");
}
