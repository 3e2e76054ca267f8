//! A statement that fails inside a pg_restore section fails the clone,
//! with pg_restore's error in the message: never exit 0 with a schema that
//! differs from the source.

use crate::support;

use crate::support::{clone_between, verify, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER t_touch BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION touch();
CREATE RULE t_notify AS ON UPDATE TO t DO ALSO NOTIFY t;
CREATE POLICY t_all ON t USING (true);
";

/// An event trigger on the target refusing one statement of `tag`.
fn refuse(tag: &str) -> String {
    format!(
        "CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refusing {tag} (test)'; END $$;
         CREATE EVENT TRIGGER refuse ON ddl_command_start WHEN TAG IN ('{tag}')
           EXECUTE FUNCTION refuse();"
    )
}

/// A clone refused one statement of `tag` by the target: it fails naming
/// pg_restore's error and `section`; without the refusal, a resume
/// finishes with the target equal to the source.
/// Returns how many tables named `t` the target held after the failure.
fn clone_refusing(tag: &str, section: &str) -> String {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql("src", SOURCE);
    tgt.create_db("dst");
    tgt.psql("dst", &refuse(tag));
    let dir = workdir();
    let out = clone_between((&src, "src"), (&tgt, "dst"), dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "refusing {tag}: {stderr}");
    assert!(
        stderr.contains(&format!("refusing {tag} (test)"))
            && stderr.contains(&format!("pg_restore of the {section} section failed")),
        "{stderr}"
    );
    let after_failure = tgt.psql("dst", "SELECT count(*) FROM pg_class WHERE relname = 't'");

    tgt.psql("dst", "DROP EVENT TRIGGER refuse; DROP FUNCTION refuse()");
    let out = support::resume_between((&src, "src"), (&tgt, "dst"), dir.path());
    support::assert_success(&out, "clone --resume");
    verify::assert_equal(&src, "src", &tgt, "dst");
    after_failure
}

#[test]
fn a_failing_pre_data_statement_fails_the_clone_before_any_copy() {
    // No table was created, so none was copied.
    assert_eq!(clone_refusing("CREATE FUNCTION", "pre-data"), "0");
}

#[test]
fn a_failing_post_data_statement_fails_the_clone() {
    clone_refusing("CREATE TRIGGER", "post-data");
}

/// The colleague's case: an event trigger on the source whose function
/// calls another without its schema. pg_restore runs with an empty
/// search_path, and the trigger fires at the matview's REFRESH in
/// post-data: the clone fails naming the function and the statement; once
/// the function is fixed, a resume finishes with the target equal.
#[test]
fn an_event_trigger_with_an_unqualified_call_fails_loudly_then_resumes() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("src");
    src.psql(
        "src",
        "CREATE TABLE audit (tag text);
         CREATE FUNCTION public.log_tag(t text) RETURNS void LANGUAGE sql
           AS 'INSERT INTO public.audit VALUES (t)';
         CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql
           AS $$ BEGIN PERFORM log_tag(tg_tag); END $$;
         CREATE EVENT TRIGGER on_ddl ON ddl_command_end EXECUTE FUNCTION on_ddl();
         CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE INDEX t_v ON t (v);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
         CREATE MATERIALIZED VIEW t_count AS SELECT count(*) FROM t;
         TRUNCATE audit;",
    );
    tgt.create_db("dst");
    let dir = workdir();
    // One restore job: the entries run in the archive's order, the event
    // trigger before the REFRESH (parallel jobs may run them either way).
    let out = clone_between(
        (&src, "src"),
        (&tgt, "dst"),
        dir.path(),
        &["--restore-jobs", "1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("function log_tag(text) does not exist")
            && stderr.contains("REFRESH MATERIALIZED VIEW public.t_count"),
        "{stderr}"
    );

    let fix = "ALTER FUNCTION public.on_ddl() SET search_path = public";
    src.psql("src", fix);
    tgt.psql("dst", fix);
    let out = support::resume_between((&src, "src"), (&tgt, "dst"), dir.path());
    support::assert_success(&out, "clone --resume");
    src.psql("src", "TRUNCATE audit");
    tgt.psql("dst", "TRUNCATE audit");
    verify::assert_equal(&src, "src", &tgt, "dst");
}
