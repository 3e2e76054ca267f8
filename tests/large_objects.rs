//! Large objects copied in batches (src/blobs.rs): owners, privileges,
//! comments, empty ones and one bigger than a batch's byte bound, copied
//! whole, and across a crash between a batch's commit and its record; the
//! metadata of each kind of ACL made by the clone, whichever pg_dump.

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
    clusters_with(OBJECTS)
}

/// A source (database `src` made by `objects`) and an empty target (`dst`),
/// both with the roles the objects name.
fn clusters_with(objects: &str) -> (Cluster, Cluster) {
    let (src, tgt) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    for c in [&src, &tgt] {
        c.psql("postgres", "CREATE ROLE app; CREATE ROLE reader");
    }
    src.create_db("src");
    src.psql("src", objects);
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
    assert_eq!(restored(" ACL - LARGE OBJECT "), 0, "{list}");
    assert_eq!(restored(" COMMENT - LARGE OBJECT "), 0, "{list}");
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

/// Roles of [`METADATA`], on both sides.
const ROLES: &str =
    r#"CREATE ROLE app; CREATE ROLE reader; CREATE ROLE writer; CREATE ROLE "Odd Role""#;

/// One object for each shape of metadata, then 300 alike (grouped GRANTs).
const METADATA: &str = r#"
SELECT lo_from_bytea(700000 + g, decode(md5(g::text), 'hex')) FROM generate_series(1, 8) g;
-- Owned by app, read by reader, updated by writer who may grant that, and
-- did: reader's UPDATE has writer as its grantor.
ALTER LARGE OBJECT 700001 OWNER TO app;
GRANT SELECT ON LARGE OBJECT 700001 TO reader;
GRANT UPDATE ON LARGE OBJECT 700001 TO writer WITH GRANT OPTION;
SET ROLE writer; GRANT UPDATE ON LARGE OBJECT 700001 TO reader; RESET ROLE;
COMMENT ON LARGE OBJECT 700001 IS 'it''s a "document"';
-- Everything to PUBLIC, an owner whose name needs quoting.
ALTER LARGE OBJECT 700002 OWNER TO "Odd Role";
GRANT SELECT, UPDATE ON LARGE OBJECT 700002 TO PUBLIC;
-- Everything revoked, from its owner too: an empty ACL, not the default.
ALTER LARGE OBJECT 700003 OWNER TO app;
REVOKE ALL ON LARGE OBJECT 700003 FROM app;
-- The owner's item after another one, with less than all.
ALTER LARGE OBJECT 700004 OWNER TO app;
REVOKE ALL ON LARGE OBJECT 700004 FROM app;
GRANT SELECT ON LARGE OBJECT 700004 TO reader;
GRANT SELECT ON LARGE OBJECT 700004 TO app;
-- A comment only.
COMMENT ON LARGE OBJECT 700005 IS 'plain';
-- Owned by reader, a grant option for writer.
ALTER LARGE OBJECT 700006 OWNER TO reader;
GRANT SELECT ON LARGE OBJECT 700006 TO writer WITH GRANT OPTION;
-- 700007 and 700008: the defaults.
SELECT lo_from_bytea(710000 + g, ''::bytea) FROM generate_series(1, 300) g;
DO $$ BEGIN
  FOR g IN 710001..710300 LOOP
    EXECUTE format('ALTER LARGE OBJECT %s OWNER TO app', g);
    EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO reader', g);
    EXECUTE format('COMMENT ON LARGE OBJECT %s IS %L', g, 'document ' || g);
  END LOOP;
END $$;
"#;

/// Every large object's owner, ACL and comment, by OID.
const METADATA_OF_EACH: &str = "SELECT m.oid, pg_get_userbyid(m.lomowner), m.lomacl::text, \
                                       obj_description(m.oid, 'pg_largeobject') \
                                  FROM pg_largeobject_metadata m ORDER BY m.oid";

/// Clone [`METADATA`] from a PostgreSQL 15 source into `tgt` with the
/// pg_dump of `tools` (None: the one the clone picks), and compare the
/// metadata of every large object on both sides.
fn metadata_survives(tgt: &Cluster, tools: Option<&std::path::Path>) -> String {
    let src = Cluster::start();
    for c in [&src, tgt] {
        c.psql("postgres", ROLES);
    }
    src.create_db("src");
    src.psql("src", METADATA);
    tgt.create_db("dst");
    let dir = workdir();
    let mut cmd = clone_cmd(&src, tgt, dir.path());
    if let Some(bindir) = tools {
        cmd.env("PGCOPYDB_PG_BINDIR", bindir);
    }
    let out = cmd.output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    let want = src.query("src", METADATA_OF_EACH);
    assert_eq!(want.len(), 308);
    assert_eq!(tgt.query("dst", METADATA_OF_EACH), want);
    verify::assert_equal(&src, "src", tgt, "dst");
    // The summary shows what the clone spent on each part.
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    for step in [
        "large objects: metadata",
        "large objects: comments and privileges",
        "large objects: contents",
    ] {
        assert!(summary.contains(step), "{step} in {summary}");
    }
    std::fs::read_to_string(dir.path().join("schema/pre-filtered.list")).unwrap()
}

/// pg_dump 15 writes an ACL and a COMMENT entry per object: the clone
/// leaves them out of the pre-data restore and makes them itself.
#[test]
fn every_kind_of_metadata_survives_with_pg_dump_15() {
    let list = metadata_survives(&Cluster::start(), None);
    let entries = |commented: bool, what: &str| {
        list.lines()
            .filter(|l| l.starts_with(';') == commented && l.contains(what))
            .count()
    };
    assert_eq!(entries(false, " LARGE OBJECT "), 0, "{list}");
    assert_eq!(entries(true, " ACL - LARGE OBJECT "), 305, "{list}");
    assert_eq!(entries(true, " COMMENT - LARGE OBJECT "), 302, "{list}");
}

/// pg_dump 17 and later put large objects' metadata in the data section,
/// which the clone does not restore.
#[test]
fn every_kind_of_metadata_survives_with_pg_dump_18() {
    let pg18 = crate::cross_version::fetched_bin(18);
    metadata_survives(&Cluster::start_with(&pg18, &[]), Some(&pg18));
}

/// Large objects as they are when the snapshot is taken: 600001 owned by
/// app with a comment, 600002 readable by reader.
const BEFORE_SNAPSHOT: &str = "
SELECT lo_from_bytea(600001, 'one'::bytea), lo_from_bytea(600002, 'two'::bytea);
ALTER LARGE OBJECT 600001 OWNER TO app;
COMMENT ON LARGE OBJECT 600001 IS 'before';
GRANT SELECT ON LARGE OBJECT 600002 TO reader;
";

/// What changes once the snapshot is taken, and how it is undone.
const AFTER_SNAPSHOT: &str = "
ALTER LARGE OBJECT 600001 OWNER TO reader;
COMMENT ON LARGE OBJECT 600001 IS 'after';
GRANT UPDATE ON LARGE OBJECT 600002 TO reader;
SELECT lo_from_bytea(600003, 'three'::bytea);
COMMENT ON LARGE OBJECT 600003 IS 'new';
";
const UNDONE: &str = "
ALTER LARGE OBJECT 600001 OWNER TO app;
COMMENT ON LARGE OBJECT 600001 IS 'before';
REVOKE UPDATE ON LARGE OBJECT 600002 FROM reader;
SELECT lo_unlink(600003);
";

/// Owners, comments and privileges are read under the clone's snapshot,
/// like the objects' list and contents: changes made on the source once it
/// is taken (the clone held just after dumping the schema) stay out.
#[test]
fn metadata_changed_after_the_snapshot_is_copied_as_it_was() {
    let (src, tgt) = clusters_with(BEFORE_SNAPSHOT);
    let before = src.query("src", METADATA_OF_EACH);
    let dir = workdir();
    let points = Failpoints::new();
    let mut cmd = clone_cmd(&src, &tgt, dir.path());
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = points.arm(&mut cmd, "schema-dumped=pause").spawn().unwrap();
    points.wait_reached("schema-dumped", &mut child);
    src.psql("src", AFTER_SNAPSHOT);
    points.release("schema-dumped");
    let out = child.wait_with_output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    assert_eq!(tgt.query("dst", METADATA_OF_EACH), before);
    // The source as of the snapshot again: the rest is equal too.
    src.psql("src", UNDONE);
    assert_eq!(src.query("src", METADATA_OF_EACH), before);
    verify::assert_equal(&src, "src", &tgt, "dst");
}

/// A security label on a large object (no label provider is packaged here,
/// so the source's row is written into pg_seclabel directly, as a
/// provider's SECURITY LABEL would) is copied with the object, never
/// dropped: the target has no such provider, so the clone fails naming
/// it, whichever pg_dump (17 and later put the label with the objects'
/// metadata, in the data section, which pg_restore is not asked for).
#[test]
fn a_security_label_on_a_large_object_is_copied_or_the_clone_fails_naming_it() {
    let pg18 = crate::cross_version::fetched_bin(18);
    let (src, tgt15, tgt18) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        let c = s.spawn(|| Cluster::start_with(&pg18, &[]));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    src.create_db("src");
    src.psql(
        "src",
        "SELECT lo_from_bytea(600001, 'labelled'::bytea);
         INSERT INTO pg_seclabel VALUES
           (600001, 'pg_largeobject'::regclass, 0, 'fake_provider', 'top secret');",
    );
    for (tgt, tools) in [(&tgt15, None), (&tgt18, Some(&pg18))] {
        tgt.create_db("dst");
        let dir = workdir();
        let mut cmd = clone_cmd(&src, tgt, dir.path());
        if let Some(bindir) = tools {
            cmd.env("PGCOPYDB_PG_BINDIR", bindir);
        }
        let out = cmd.output().unwrap();
        let text = support::output_text(&out);
        assert!(
            !out.status.success(),
            "label dropped, tools {tools:?}:\n{text}"
        );
        assert_ne!(out.status.code(), Some(101), "{text}");
        assert!(
            text.contains("fake_provider") && text.contains("security label"),
            "tools {tools:?}:\n{text}"
        );
    }
}

/// The clone's own peak memory (summary.json's `peak_rss_kb`) does not grow
/// with the number of large objects: the schema listing's entry of each
/// object the clone makes itself is not kept (they were about 700 bytes an
/// object, some 28 MB more for 40,000 objects).
#[test]
fn the_clone_s_own_memory_does_not_grow_with_the_number_of_large_objects() {
    let (src, tgt) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    src.create_db("src");
    let peak_kb = |db: &str| -> u64 {
        tgt.create_db(db);
        let dir = workdir();
        let out = support::clone_between((&src, "src"), (&tgt, db), dir.path(), &[]);
        support::assert_success(&out, "pgcopydb clone");
        verify::assert_equal(&src, "src", &tgt, db);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        summary["peak_rss_kb"]
            .as_u64()
            .unwrap_or_else(|| panic!("no peak_rss_kb in {summary}"))
    };
    let objects = "SELECT lo_from_bytea(0, '\\x0102') FROM generate_series(1, $n)";
    src.psql("src", &objects.replace("$n", "1000"));
    let few = peak_kb("few");
    src.psql("src", &objects.replace("$n", "40000"));
    let many = peak_kb("many");
    eprintln!("peak RSS: {few} kB with 1,000 large objects, {many} kB with 41,000");
    assert!(
        many < few + 16 * 1024,
        "the clone's peak RSS grew from {few} kB to {many} kB with 40,000 more large objects"
    );
}
