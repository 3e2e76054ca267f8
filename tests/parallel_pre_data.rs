//! The pre-data restore in several pg_restore at once, by dependency level
//! (forced with PGCOPYDB_PARALLEL_PRE_DATA=on on these small schemas): the
//! target equals the source, checked by the independent verifier.

use crate::support;

use std::path::Path;
use std::process::Output;

use crate::support::failpoints::Failpoints;
use crate::support::{fixture, verify, workdir, Cluster};

const FORCE: (&str, &str) = ("PGCOPYDB_PARALLEL_PRE_DATA", "on");

/// What the run logs when it restores pre-data by stages.
const STAGED: &str = "restoring pre-data in ";

fn clone_in_parallel(src: &Cluster, tgt: &Cluster, db: &str, dir: &Path) -> Output {
    let out = support::runner::clone_command((src, db), (tgt, db), dir, &["--restore-jobs", "4"])
        .env(FORCE.0, FORCE.1)
        .output()
        .expect("run pgcopydb clone");
    support::assert_success(&out, "pgcopydb clone");
    let text = support::output_text(&out);
    assert!(text.contains(STAGED), "pre-data not staged:\n{text}");
    out
}

/// Source and target with the roles of dependencies.sql, the source's `db`
/// loaded with it.
/// `clone --resume` of "deps" with the parallel path forced: exit 0 and
/// source = target.
fn resume_then_verify(src: &Cluster, tgt: &Cluster, dir: &Path) {
    let out = support::runner::clone_command(
        (src, "deps"),
        (tgt, "deps"),
        dir,
        &["--resume", "--not-consistent"],
    )
    .env(FORCE.0, FORCE.1)
    .output()
    .unwrap();
    support::assert_success(&out, "pgcopydb clone --resume");
    verify::assert_equal(src, "deps", tgt, "deps");
}

fn dependencies(db: &str) -> (Cluster, Cluster) {
    let (src, tgt) = support::shared_source_and_target(db);
    for c in [&src, &tgt] {
        c.load_sql_file("postgres", &fixture("dependency_roles.sql"));
    }
    src.load_sql_file(db, &fixture("dependencies.sql"));
    (src, tgt)
}

#[test]
fn every_dependency_kind_is_restored_in_order() {
    let (src, tgt) = dependencies("deps");
    let dir = workdir();
    clone_in_parallel(&src, &tgt, "deps", dir.path());
    verify::assert_equal(&src, "deps", &tgt, "deps");
    // Several batches ran side by side.
    let batches = std::fs::read_dir(dir.path().join("schema"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".batch-1."))
        .count();
    assert!(batches > 0, "no stage had a second batch");
}

#[test]
fn demo_and_coverage_databases_are_restored_in_parallel() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.load_demo("demo");
    tgt.create_db("demo");
    src.create_db("cov");
    src.load_sql_file("cov", &fixture("coverage.sql"));
    tgt.load_sql_file("postgres", &fixture("roles.sql"));
    tgt.create_db("cov");
    for db in ["demo", "cov"] {
        let dir = workdir();
        clone_in_parallel(&src, &tgt, db, dir.path());
        verify::assert_equal(&src, db, &tgt, db);
    }
}

#[test]
fn a_crash_between_stages_is_resumed() {
    let (src, tgt) = dependencies("deps");
    let dir = workdir();
    let points = Failpoints::new();
    let mut cmd = support::runner::clone_command((&src, "deps"), (&tgt, "deps"), dir.path(), &[]);
    cmd.env(FORCE.0, FORCE.1);
    // The second stage: some tables are in, others not.
    points.arm(&mut cmd, "pre-data-stage-restored=crash@2");
    let out = cmd.output().unwrap();
    points.expect_reached("pre-data-stage-restored", &out);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc::SIGKILL),
        "{}",
        support::output_text(&out)
    );
    resume_then_verify(&src, &tgt, dir.path());
}

#[test]
fn an_unknown_setting_is_refused() {
    let (src, tgt) = support::shared_source_and_target("tiny");
    let dir = workdir();
    let out = support::runner::clone_command((&src, "tiny"), (&tgt, "tiny"), dir.path(), &[])
        .env(FORCE.0, "sometimes")
        .output()
        .unwrap();
    let text = support::output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("PGCOPYDB_PARALLEL_PRE_DATA=sometimes is not understood"),
        "{text}"
    );
}

/// The target refuses one table of a parallel stage: the clone fails with
/// pg_restore's error; once the refusal is gone, a resume ends equal.
#[test]
fn a_failing_batch_fails_the_clone_with_its_error_then_resumes() {
    let (src, tgt) = dependencies("deps");
    tgt.psql(
        "deps",
        "CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands()
                      WHERE object_identity = 'dep_b.uses_3') THEN
             RAISE EXCEPTION 'refusing dep_b.uses_3 (test)';
           END IF;
         END $$;
         CREATE EVENT TRIGGER refuse ON ddl_command_end EXECUTE FUNCTION refuse();",
    );
    let dir = workdir();
    let out = support::runner::clone_command((&src, "deps"), (&tgt, "deps"), dir.path(), &[])
        .env(FORCE.0, FORCE.1)
        .output()
        .unwrap();
    let text = support::output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("refusing dep_b.uses_3 (test)")
            && text.contains("pg_restore of the pre-data section failed")
            && text.contains(STAGED),
        "{text}"
    );
    tgt.psql("deps", "DROP EVENT TRIGGER refuse; DROP FUNCTION refuse()");
    resume_then_verify(&src, &tgt, dir.path());
}

/// A batch of a parallel stage that fails once, with a message in the
/// server's language rather than English (a French server's deadlock: the
/// SQLSTATE is 40P01, pg_restore shows only the text), is restored again
/// alone, and the clone goes on. A sequence counts the tries: nextval
/// survives the failed batch's rollback.
#[test]
fn a_batch_failing_once_in_any_language_is_restored_again_alone() {
    let (src, tgt) = dependencies("deps");
    tgt.psql(
        "deps",
        "CREATE SEQUENCE public.refuse_tries;
         CREATE FUNCTION public.refuse_once() RETURNS event_trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands()
                      WHERE object_identity = 'dep_b.uses_3')
              AND nextval('public.refuse_tries') = 1 THEN
             RAISE EXCEPTION 'blocage mortel détecté (test)' USING ERRCODE = 'deadlock_detected';
           END IF;
         END $$;
         CREATE EVENT TRIGGER refuse_once ON ddl_command_end EXECUTE FUNCTION public.refuse_once();",
    );
    let dir = workdir();
    let out = clone_in_parallel(&src, &tgt, "deps", dir.path());
    let text = support::output_text(&out);
    assert!(
        text.contains("blocage mortel détecté (test)") && text.contains("restoring it alone"),
        "{text}"
    );
    tgt.psql(
        "deps",
        "DROP EVENT TRIGGER refuse_once; DROP FUNCTION public.refuse_once(); \
         DROP SEQUENCE public.refuse_tries",
    );
    verify::assert_equal(&src, "deps", &tgt, "deps");
}
