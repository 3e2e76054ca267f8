//! The guards checked before anything is written: a source and target that
//! are one database (however the connection strings spell it) are refused,
//! and `--drop-if-exists` does not cascade into the target's own objects
//! unless `--drop-cascade` says so.

use crate::support;

use std::process::Output;

use crate::support::{
    assert_fails, assert_success, clone_between, pgcopydb, verify, workdir, Cluster,
};

fn count(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, sql).trim().to_string()
}

fn run(args: &[&str]) -> Output {
    pgcopydb().args(args).output().expect("run pgcopydb")
}

/// `postgres://...@localhost:PORT/DB`: a third spelling of the server.
fn localhost_uri(c: &Cluster, db: &str) -> String {
    c.uri(db).replace("@127.0.0.1:", "@localhost:")
}

#[test]
fn same_database_is_refused_however_it_is_spelled() {
    let c = Cluster::start();
    c.create_db("app");
    c.psql(
        "app",
        "CREATE TABLE important (id int PRIMARY KEY, v text); \
         INSERT INTO important SELECT g, 'row ' || g FROM generate_series(1, 1000) g; \
         CREATE ROLE plain LOGIN; GRANT SELECT ON important TO plain; \
         REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC;",
    );
    let spellings = [
        (c.uri("app"), c.socket_conninfo("app")),
        (c.socket_conninfo("app"), localhost_uri(&c, "app")),
        (localhost_uri(&c, "app"), c.uri("app")),
        // A role that may not call pg_control_system(): the server is
        // recognised by the source's session listed on the target.
        (
            c.socket_conninfo("app")
                .replace("user=postgres", "user=plain"),
            c.socket_conninfo("app")
                .replace("user=postgres", "user=plain"),
        ),
    ];
    for (source, target) in &spellings {
        for command in [&["clone", "--drop-if-exists"][..], &["copy", "table-data"]] {
            let dir = workdir();
            let out = run(&[
                command,
                &["--source", source, "--target", target],
                &["--dir", dir.path().to_str().unwrap()],
            ]
            .concat());
            assert_fails(&out, 7, "source and target are the same database");
            assert_eq!(count(&c, "app", "SELECT count(*) FROM important"), "1000");
        }
    }
    let out = run(&[
        "copy",
        "extensions",
        "--source",
        &c.uri("app"),
        "--target",
        &c.socket_conninfo("app"),
    ]);
    assert_fails(&out, 7, "refusing to copy extensions");
}

#[test]
fn two_databases_of_one_server_clone_fine() {
    let c = Cluster::start();
    c.create_db("a");
    c.create_db("b");
    c.psql(
        "a",
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g;",
    );
    let dir = workdir();
    let out = clone_between((&c, "a"), (&c, "b"), dir.path(), &[]);
    assert_success(&out, "clone a into b on one server");
    verify::assert_equal(&c, "a", &c, "b");
}

#[test]
fn all_databases_into_the_same_instance_is_refused() {
    let c = Cluster::start();
    c.create_db("app");
    c.psql(
        "app",
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g",
    );
    let dir = workdir();
    let out = run(&[
        "clone",
        "--all-databases",
        "--drop-if-exists",
        "--source",
        &c.uri("postgres"),
        "--target",
        &c.socket_conninfo("postgres"),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_fails(&out, 7, "source and target are the same instance");
    assert_eq!(count(&c, "app", "SELECT count(*) FROM t"), "100");
    let out = run(&[
        "copy",
        "roles",
        "--source",
        &c.uri("postgres"),
        "--target",
        &localhost_uri(&c, "postgres"),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_fails(&out, 7, "refusing to copy roles");
}

#[test]
fn drop_if_exists_does_not_cascade_into_target_objects_silently() {
    let (src, tgt) = support::source_and_target("db");
    src.psql(
        "db",
        "CREATE TABLE actor (id int PRIMARY KEY, name text); \
         INSERT INTO actor SELECT g, 'actor ' || g FROM generate_series(1, 200) g; \
         CREATE VIEW actor_names AS SELECT name FROM actor;",
    );
    let out = clone_between((&src, "db"), (&tgt, "db"), workdir().path(), &[]);
    assert_success(&out, "first clone");
    // The target's own objects on the copied table; the source's view,
    // recreated by the run, is not among them.
    tgt.psql(
        "db",
        "CREATE VIEW mine AS SELECT id FROM actor WHERE id < 10; \
         CREATE TABLE fan (id int PRIMARY KEY, actor_id int REFERENCES actor); \
         INSERT INTO fan VALUES (1, 5), (2, 7); \
         CREATE MATERIALIZED VIEW mine_too AS SELECT count(*) FROM actor; \
         CREATE TABLE actor_extra (born int) INHERITS (actor); \
         INSERT INTO actor_extra VALUES (1000, 'heir', 1990); \
         CREATE POLICY fans_of_actors ON fan USING (actor_id IN (SELECT id FROM actor)); \
         CREATE FUNCTION label(actor) RETURNS text LANGUAGE sql AS 'SELECT $1.name';",
    );
    src.psql("db", "INSERT INTO actor VALUES (201, 'new')");

    let out = clone_between(
        (&src, "db"),
        (&tgt, "db"),
        workdir().path(),
        &["--drop-if-exists"],
    );
    assert_fails(&out, 7, "--drop-cascade");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The listed objects, one by one ("view mine" is also in "materialized view mine_too").
    let listed: Vec<&str> = stderr
        .split_once("does not recreate: ")
        .and_then(|(_, rest)| rest.split_once("; nothing was dropped"))
        .map(|(list, _)| list.split(", ").collect())
        .unwrap_or_default();
    for lost in [
        "view mine",
        "materialized view mine_too",
        "constraint fan_actor_id_fkey on table fan",
        "table actor_extra",
        "policy fans_of_actors on table fan",
        "function label(actor)",
    ] {
        assert!(listed.contains(&lost), "{lost:?} not listed:\n{stderr}");
    }
    assert!(!stderr.contains("actor_names"), "{stderr}");
    // Nothing was dropped.
    assert_eq!(count(&tgt, "db", "SELECT count(*) FROM mine"), "9");
    assert_eq!(count(&tgt, "db", "SELECT count(*) FROM actor_extra"), "1");
    let fk = "SELECT count(*) FROM pg_constraint WHERE conname = 'fan_actor_id_fkey'";
    assert_eq!(count(&tgt, "db", fk), "1");
    assert_eq!(count(&tgt, "db", "SELECT count(*) FROM pg_policy"), "1");
    assert_eq!(count(&tgt, "db", "SELECT count(*) FROM ONLY actor"), "200");

    let out = clone_between(
        (&src, "db"),
        (&tgt, "db"),
        workdir().path(),
        &["--drop-if-exists", "--drop-cascade"],
    );
    assert_success(&out, "clone --drop-if-exists --drop-cascade");
    assert_eq!(count(&tgt, "db", "SELECT count(*) FROM fan"), "2");
    tgt.psql("db", "DROP TABLE fan");
    verify::assert_equal(&src, "db", &tgt, "db");
}

/// Running a clone again into its earlier target replaces what the source
/// has (the demo's views, partitions, functions on row types...): nothing of
/// it counts as the target's own, so nothing is refused.
#[test]
fn drop_if_exists_into_an_earlier_clone_is_not_refused() {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.load_demo("demo");
    tgt.create_db("demo");
    let out = clone_between((&src, "demo"), (&tgt, "demo"), workdir().path(), &[]);
    assert_success(&out, "first clone");
    src.psql(
        "demo",
        "UPDATE hr.employee SET full_name = 'AGAIN' WHERE employee_id = 1",
    );
    let out = clone_between(
        (&src, "demo"),
        (&tgt, "demo"),
        workdir().path(),
        &["--drop-if-exists"],
    );
    assert_success(&out, "second clone with --drop-if-exists");
    verify::assert_equal(&src, "demo", &tgt, "demo");
}

/// A pooler in front of the server is one more spelling of it: the same
/// database through pgbouncer (session and transaction pooling) is refused
/// before anything is written; another database through it clones fine.
#[test]
fn same_database_through_a_pooler_is_refused() {
    let Some(program) = support::pgbouncer::pgbouncer_program() else {
        return eprintln!("skipped: pgbouncer is not installed");
    };
    let c = Cluster::start_with(&support::pgbin(), &[("log_statement", "mod")]);
    // In every database to come (the clones' targets included, which must
    // equal their source).
    c.psql(
        "template1",
        "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC",
    );
    c.create_db("app");
    c.psql(
        "app",
        "CREATE TABLE important (id int PRIMARY KEY, v text); \
         INSERT INTO important SELECT g, 'row ' || g FROM generate_series(1, 1000) g; \
         CREATE ROLE plain LOGIN; GRANT SELECT ON important TO plain;",
    );
    let plain = c
        .socket_conninfo("app")
        .replace("user=postgres", "user=plain");
    for pool_mode in ["session", "transaction"] {
        let bouncer = support::pgbouncer::Pgbouncer::start(&program, &c, pool_mode);
        let spellings = [
            (c.uri("app"), bouncer.uri("app")),
            (bouncer.uri("app"), c.socket_conninfo("app")),
            (c.uri("app"), bouncer.uri("app_alias")),
            // Without pg_control_system(): the source's session is looked
            // for among the target's, through the pooler either way.
            (plain.clone(), bouncer.uri_as("plain", "app")),
            (bouncer.uri_as("plain", "app"), plain.clone()),
            // Two roles: the target's may not see the source's session details.
            (c.uri("app"), bouncer.uri_as("plain", "app")),
            (c.uri("app"), plain.clone()),
        ];
        for (source, target) in &spellings {
            let from = c.log_len();
            let dir = workdir();
            let out = run(&[
                "clone",
                "--drop-if-exists",
                "--source",
                source,
                "--target",
                target,
                "--dir",
                dir.path().to_str().unwrap(),
            ]);
            if out.status.code() != Some(7) {
                eprintln!("pgbouncer log:\n{}", bouncer.log());
            }
            assert_fails(&out, 7, "source and target are the same database");
            c.assert_no_statements_since(from);
            assert_eq!(count(&c, "app", "SELECT count(*) FROM important"), "1000");
        }
        let other = format!("other_{pool_mode}");
        c.create_db(&other);
        let dir = workdir();
        let out = run(&[
            "clone",
            "--source",
            &c.uri("app"),
            "--target",
            &bouncer.uri(&other),
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        if !out.status.success() {
            eprintln!("pgbouncer log:\n{}", bouncer.log());
        }
        assert_success(
            &out,
            &format!("clone app into {other} through pgbouncer ({pool_mode})"),
        );
        verify::assert_equal(&c, "app", &c, &other);
    }
}
