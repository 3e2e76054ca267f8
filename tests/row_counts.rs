//! The row-count guard of every copy: the count the source's `COPY ... TO`
//! reported must equal the count the target's `COPY ... FROM` reported, per
//! table and per part, in both formats. (Table rows travel through the relay
//! whatever the connection string; the other way, through tokio-postgres,
//! carries extension configuration rows: tests/extensions.rs.)

use crate::support;

use crate::support::{clone_between, pgcopydb, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE counted (id int PRIMARY KEY, v text);
INSERT INTO counted SELECT i, repeat('v', i % 40) FROM generate_series(1, 3000) i;
CREATE TABLE other (id int PRIMARY KEY);
INSERT INTO other SELECT generate_series(1, 10);
";

/// A target prepared by the user with a trigger that drops the rows of even
/// ids: COPY FROM reports only the rows it stored.
const SKIPPING_TARGET: &str = "
CREATE TABLE counted (id int PRIMARY KEY, v text);
CREATE TABLE other (id int PRIMARY KEY);
CREATE FUNCTION skip_even() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER skip_even BEFORE INSERT ON counted FOR EACH ROW EXECUTE FUNCTION skip_even();
";

fn copy_table_data(source: &str, tgt: &Cluster, extra: &[&str]) -> std::process::Output {
    let dir = workdir();
    pgcopydb()
        .args(["copy", "table-data", "--not-consistent"])
        .args(["--source", source, "--target", &tgt.uri("app")])
        .arg("--dir")
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_target_that_stores_fewer_rows_fails_the_unit_naming_both_counts() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    tgt.create_db("app");
    tgt.psql("app", SKIPPING_TARGET);
    let uri = src.uri("app");
    let cases: &[(&str, &[&str], &str)] = &[
        (&uri, &[], "public.counted: "),
        (&uri, &["--copy-format", "binary"], "public.counted: "),
        (
            &uri,
            &["--split-tables-larger-than", "20kB"],
            "public.counted (part 1/",
        ),
    ];
    for (source, extra, label) in cases {
        let out = copy_table_data(source, &tgt, extra);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{extra:?}: succeeded:\n{text}");
        let whole = extra.is_empty() || extra[0] == "--copy-format";
        let expected = if whole {
            "the source sent 3000 rows but the target's COPY stored 1500".to_string()
        } else {
            "rows but the target's COPY stored".to_string()
        };
        assert!(
            text.lines()
                .any(|l| l.contains(label) && l.contains(&expected)),
            "{source} {extra:?}: no line naming {label} with both counts:\n{text}"
        );
        assert!(
            text.contains("differed for"),
            "{extra:?}: the summary does not say the counts differed:\n{text}"
        );
        // The mismatching rows were rolled back; the other table is in.
        assert_eq!(tgt.psql("app", "SELECT count(*) FROM ONLY counted"), "0");
        assert_eq!(tgt.psql("app", "SELECT count(*) FROM other"), "10");
    }
}

#[test]
fn the_summary_says_the_counts_matched_and_what_verify_adds() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("app");
    src.psql("app", SOURCE);
    for (db, extra, content) in [
        ("plain", &[][..], "content not compared: --verify does that"),
        (
            "binary",
            &["--copy-format", "binary"],
            "content not compared",
        ),
        (
            "verified",
            &["--verify"],
            "content verified equal by --verify",
        ),
    ] {
        tgt.create_db(db);
        let dir = workdir();
        let out = clone_between((&src, "app"), (&tgt, db), dir.path(), extra);
        support::assert_success(&out, &format!("clone {extra:?}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("rows: "))
            .unwrap_or_else(|| panic!("no row count line in the summary:\n{stdout}"));
        assert!(
            line.starts_with(
                "rows: 3010 copied, source and target COPY row counts matched for every table (2)"
            ),
            "{line}"
        );
        assert!(line.contains(content), "{line}");
    }
}
