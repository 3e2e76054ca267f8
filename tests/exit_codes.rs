//! A run whose failed units all failed on one side exits with that side's
//! code: 7 when the target refused the data, 6 when the source refused to
//! give it (see README, Exit codes). The summary names the side and kind.

use crate::support;

use crate::support::{clone_between, pgcopydb, workdir, Cluster};

const TABLES: &str = "
CREATE TABLE good (id int PRIMARY KEY, v text);
INSERT INTO good SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE picky (id int PRIMARY KEY, v text);
INSERT INTO picky SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
";

/// On the target, every table named `picky` gets a CHECK (false) as soon as
/// pg_restore creates it: its COPY is refused by the target (SQLSTATE
/// 23514), a deterministic failure of exactly one unit on the target side.
const PICKY_TARGET: &str = "
CREATE FUNCTION make_picky() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM pg_class WHERE relname = 'picky' AND relkind = 'r')
     AND NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'picky_never') THEN
    ALTER TABLE public.picky ADD CONSTRAINT picky_never CHECK (false) NOT VALID;
  END IF;
END $$;
CREATE EVENT TRIGGER make_picky ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION make_picky();
";

fn summary_failures(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read(dir.join("summary.json")).expect("summary.json");
    let summary: serde_json::Value = serde_json::from_slice(&text).expect("summary JSON");
    summary["failures"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_copy_refused_by_the_target_exits_with_the_target_code() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", TABLES);
    tgt.create_db("dst");
    tgt.psql("dst", PICKY_TARGET);
    let dir = workdir();
    let out = clone_between((&src, "src"), (&tgt, "dst"), dir.path(), &[]);
    let text = support::output_text(&out);
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(text.contains("picky_never"), "the cause is named:\n{text}");
    // The other table went on.
    assert_eq!(
        tgt.psql("dst", "SELECT count(*) FROM good"),
        "2000",
        "{text}"
    );
    let failures = summary_failures(dir.path());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["side"], "target", "{failures:?}");
    assert_eq!(failures[0]["kind"], "rejected", "{failures:?}");
}

#[test]
fn a_copy_refused_by_the_source_exits_with_the_source_code() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql("src", TABLES);
    // A role that may read both tables, but for which `picky` is under a
    // row-level security policy while it runs with row_security = off (as
    // pg_dump does): the schema dump works, reading `picky`'s rows is
    // refused by the source (SQLSTATE 42501).
    src.psql(
        "src",
        &format!(
            "CREATE ROLE cloner LOGIN PASSWORD '{}';\
             ALTER ROLE cloner SET row_security = off;\
             GRANT SELECT ON good, picky TO cloner;\
             ALTER TABLE picky ENABLE ROW LEVEL SECURITY;\
             CREATE POLICY picky_some ON picky USING (id < 10);",
            Cluster::PASSWORD
        ),
    );
    tgt.create_db("dst");
    // Its grants are restored with the schema.
    tgt.psql("dst", "CREATE ROLE cloner");
    let dir = workdir();
    let out = pgcopydb()
        .args(["clone", "--source"])
        .arg(src.uri("src").replace("//postgres:", "//cloner:"))
        .args(["--target", &tgt.uri("dst")])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run pgcopydb clone");
    let text = support::output_text(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(text.contains("row-level security"), "{text}");
    assert_eq!(
        tgt.psql("dst", "SELECT count(*) FROM good"),
        "2000",
        "{text}"
    );
    let failures = summary_failures(dir.path());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["side"], "source", "{failures:?}");
    assert_eq!(failures[0]["kind"], "permission denied", "{failures:?}");
}
