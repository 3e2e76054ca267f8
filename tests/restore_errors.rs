//! A statement that fails inside a pg_restore section fails the clone,
//! with pg_restore's error in the message: never exit 0 with a schema that
//! differs from the source.

mod support;

use support::{clone_between, verify, workdir, Cluster};

const SOURCE: &str = "
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER t_touch BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION touch();
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

fn clone_refusing(tag: &str) -> (Cluster, String) {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql("src", SOURCE);
    tgt.create_db("dst");
    tgt.psql("dst", &refuse(tag));
    let dir = workdir();
    let out = clone_between((&src, "src"), (&tgt, "dst"), dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "refusing {tag}: {stderr}");
    assert!(
        stderr.contains(&format!("refusing {tag} (test)")),
        "{stderr}"
    );
    (tgt, stderr)
}

#[test]
fn a_failing_pre_data_statement_fails_the_clone_before_any_copy() {
    let (tgt, stderr) = clone_refusing("CREATE FUNCTION");
    assert!(stderr.contains("pre-data"), "{stderr}");
    assert_eq!(
        tgt.psql("dst", "SELECT count(*) FROM pg_class WHERE relname = 't'"),
        "0"
    );
}

#[test]
fn a_failing_post_data_statement_fails_the_clone() {
    let (_tgt, stderr) = clone_refusing("CREATE TRIGGER");
    assert!(stderr.contains("post-data"), "{stderr}");
}

/// The colleague's case: an event trigger on the source whose function
/// calls another without its schema. pg_dump qualifies the trigger's
/// function, and the restore runs with an empty search_path: the clone
/// either fails naming the entry, or the target equals the source.
#[test]
fn an_event_trigger_with_an_unqualified_call_is_restored_or_fails_loudly() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db("src");
    src.psql(
        "src",
        "CREATE TABLE audit (tag text);
         CREATE FUNCTION public.log_tag(t text) RETURNS void LANGUAGE sql
           AS 'INSERT INTO audit VALUES (t)';
         CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql
           AS $$ BEGIN PERFORM log_tag(tg_tag); END $$;
         CREATE EVENT TRIGGER on_ddl ON ddl_command_end EXECUTE FUNCTION on_ddl();
         CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE INDEX t_v ON t (v);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
         TRUNCATE audit;",
    );
    tgt.create_db("dst");
    let dir = workdir();
    let out = clone_between((&src, "src"), (&tgt, "dst"), dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        verify::assert_equal(&src, "src", &tgt, "dst");
    } else {
        assert!(
            stderr.contains("on_ddl") || stderr.contains("log_tag"),
            "{stderr}"
        );
    }
}
