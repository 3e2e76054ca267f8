//! `copy roles` and `copy extensions` as a superuser, then a clone by a role
//! that only owns the target database (`--skip-extensions`,
//! `--skip-collations`); `clone --roles --no-role-passwords
//! --skip-ext-comments`; extension configuration rows copied in
//! foreign-key order.

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{pgbin, pgcopydb, verify, workdir, Cluster};

/// A tiny extension with configuration tables: `settings` references
/// `kinds`, and is registered first, so copying them in extconfig order
/// would break the foreign key. The script's own rows are `builtin`; the
/// user's rows are what pg_dump (and `copy extensions`) copy.
const EXT_NAME: &str = "pgcopydb_cfgtest";
const EXT_CONTROL: &str = "comment = 'pgcopydb test extension with configuration tables'\n\
default_version = '1.0'\nrelocatable = false\n";
const EXT_SQL: &str = r#"
CREATE TABLE kinds (id int PRIMARY KEY, label text NOT NULL, builtin bool NOT NULL DEFAULT false);
CREATE TABLE settings (
    id serial PRIMARY KEY,
    kind_id int NOT NULL REFERENCES kinds (id),
    value text,
    builtin bool NOT NULL DEFAULT false);
INSERT INTO kinds VALUES (1, 'default', true);
INSERT INTO settings (kind_id, value, builtin) VALUES (1, 'shipped', true);
SELECT pg_catalog.pg_extension_config_dump('settings', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('settings_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kinds', 'WHERE NOT builtin');
"#;

/// Install the test extension into the PostgreSQL share directory of the
/// servers under test. Needs write access there (the tests run as root in
/// CI); `false` when it is not writable.
fn install_test_extension() -> bool {
    let out = Command::new(pgbin().join("pg_config"))
        .arg("--sharedir")
        .output()
        .expect("run pg_config");
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("extension");
    let files = [
        (format!("{EXT_NAME}.control"), EXT_CONTROL),
        (format!("{EXT_NAME}--1.0.sql"), EXT_SQL),
    ];
    for (name, text) in files {
        let path = dir.join(&name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text) {
            continue;
        }
        // Written aside then renamed: tests running at once never see half a file.
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        if std::fs::write(&tmp, text).is_err() || std::fs::rename(&tmp, &path).is_err() {
            eprintln!("cannot write {}: skipping", path.display());
            return false;
        }
    }
    true
}

fn run(args: &[&str]) -> Output {
    pgcopydb().args(args).output().expect("run pgcopydb")
}

const APP_PASSWORD: &str = "app-Pw-7";

/// The source: roles, a database owned by `app_owner`, the test extension
/// in its own schema with user rows in its configuration tables, hstore in
/// public, a collation and a table using all of them.
fn source() -> Cluster {
    let src = Cluster::start();
    src.psql(
        "postgres",
        &format!(
            "CREATE ROLE app_owner LOGIN PASSWORD '{APP_PASSWORD}'; \
             CREATE ROLE app_reader NOLOGIN; \
             CREATE DATABASE src OWNER app_owner;"
        ),
    );
    src.psql(
        "src",
        &format!(
            "CREATE SCHEMA cfg; \
             CREATE EXTENSION {EXT_NAME} WITH SCHEMA cfg; \
             CREATE EXTENSION hstore; \
             INSERT INTO cfg.kinds VALUES (2, 'user kind', false), (3, 'another', false); \
             INSERT INTO cfg.settings (kind_id, value) VALUES (2, 'u1'), (3, 'u2'), (2, 'u3'); \
             SET ROLE app_owner; \
             CREATE COLLATION public.app_c FROM \"C\"; \
             CREATE SCHEMA app; \
             CREATE TABLE app.items (id serial PRIMARY KEY, name text COLLATE public.app_c, \
                                     attrs hstore, kind int); \
             INSERT INTO app.items (name, attrs, kind) \
                  SELECT 'i' || g, hstore('k', g::text), 1 + g % 3 FROM generate_series(1, 100) g; \
             GRANT SELECT ON app.items TO app_reader;"
        ),
    );
    src
}

/// User rows of the configuration tables and the sequence's state.
fn config_rows(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT (SELECT string_agg(format('%s:%s:%s', id, label, builtin), ',' ORDER BY id) \
                  FROM cfg.kinds) || ' / ' || \
                (SELECT string_agg(format('%s:%s:%s:%s', id, kind_id, value, builtin), ',' \
                                   ORDER BY id) FROM cfg.settings) || ' / ' || \
                (SELECT last_value || ':' || is_called FROM cfg.settings_id_seq)",
    )
}

#[test]
fn superuser_prepares_then_database_owner_clones_with_skip_extensions() {
    if !install_test_extension() {
        return;
    }
    let src = source();
    let tgt = Cluster::start();
    let dir = workdir();
    let d = dir.path().to_str().unwrap();
    let s = src.uri("src");

    // The superuser: roles, then the database for their owner, then extensions.
    let out = run(&[
        "copy",
        "roles",
        "--source",
        &s,
        "--target",
        &tgt.uri("postgres"),
        "--dir",
        d,
    ]);
    support::assert_success(&out, "copy roles");
    tgt.psql("postgres", "CREATE DATABASE tgt OWNER app_owner");
    for _ in 0..2 {
        // Twice: the second run finds everything there and changes nothing.
        let out = run(&[
            "copy",
            "extensions",
            "--source",
            &s,
            "--target",
            &tgt.uri("tgt"),
        ]);
        support::assert_success(&out, "copy extensions");
        assert_eq!(config_rows(&tgt, "tgt"), config_rows(&src, "src"));
    }
    assert_eq!(
        tgt.psql(
            "tgt",
            "SELECT string_agg(e.extname || '@' || n.nspname || ':' || e.extversion, ',' \
                               ORDER BY e.extname) \
               FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        ),
        src.psql(
            "src",
            "SELECT string_agg(e.extname || '@' || n.nspname || ':' || e.extversion, ',' \
                               ORDER BY e.extname) \
               FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        )
    );

    // The owner: the collation made by hand, then the clone, extensions and
    // collations left alone.
    tgt.psql(
        "tgt",
        "SET ROLE app_owner; CREATE COLLATION public.app_c FROM \"C\";",
    );
    let owner_uri = format!(
        "postgres://app_owner:{APP_PASSWORD}@127.0.0.1:{}/tgt",
        tgt.port
    );
    let out = run(&[
        "clone",
        "--source",
        &s,
        "--target",
        &owner_uri,
        "--dir",
        &format!("{d}/clone"),
        "--skip-extensions",
        "--skip-collations",
    ]);
    support::assert_success(
        &out,
        "clone --skip-extensions --skip-collations as the database owner",
    );
    verify::assert_equal(&src, "src", &tgt, "tgt");

    // The restore list says what was left out.
    let out = run(&[
        "restore",
        "parse-list",
        "--source",
        &s,
        "--target",
        &owner_uri,
        "--dir",
        &format!("{d}/clone"),
        "--skip-extensions",
        "--skip-collations",
    ]);
    support::assert_success(&out, "restore parse-list");
    let list = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "EXTENSION - hstore",
        "COMMENT - EXTENSION hstore",
        "COLLATION public app_c",
        "SCHEMA - cfg",
    ] {
        let line = list
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in:\n{list}"));
        assert!(line.starts_with(';'), "{line} should be skipped");
    }
}

#[test]
fn clone_with_roles_and_skip_ext_comments() {
    if !install_test_extension() {
        return;
    }
    let src = source();
    src.psql(
        "src",
        "COMMENT ON EXTENSION hstore IS 'commented on the source'",
    );
    let tgt = Cluster::start();
    tgt.create_db("tgt");
    let dir = workdir();
    let out = run(&[
        "clone",
        "--source",
        &src.uri("src"),
        "--target",
        &tgt.uri("tgt"),
        "--dir",
        dir.path().to_str().unwrap(),
        "--roles",
        "--no-role-passwords",
        "--skip-ext-comments",
    ]);
    support::assert_success(
        &out,
        "clone --roles --no-role-passwords --skip-ext-comments",
    );
    // Roles made before the schema that refers to them, without passwords.
    assert_eq!(
        tgt.psql(
            "postgres",
            "SELECT string_agg(rolname || ':' || (rolpassword IS NULL), ',' ORDER BY rolname) \
               FROM pg_authid WHERE rolname LIKE 'app\\_%'"
        ),
        "app_owner:true,app_reader:true"
    );
    assert_eq!(
        tgt.psql(
            "tgt",
            "SELECT has_table_privilege('app_reader', 'app.items', 'SELECT')"
        ),
        "t"
    );
    // The extension's own comment, not the source's.
    assert_ne!(
        tgt.psql(
            "tgt",
            "SELECT obj_description(oid, 'pg_extension') FROM pg_extension WHERE extname = 'hstore'"
        ),
        "commented on the source"
    );
    // The clone itself copied the configuration rows the pre-data restore
    // could not (its CREATE EXTENSION made only the builtin ones).
    assert_eq!(config_rows(&tgt, "tgt"), config_rows(&src, "src"));
}

#[test]
fn skip_extensions_with_include_only_extension_is_a_config_error() {
    let dir = workdir();
    let filters = dir.path().join("f.ini");
    std::fs::write(&filters, "[include-only-extension]\nhstore\n").unwrap();
    let out = pgcopydb()
        .args([
            "clone",
            "--source",
            "postgres://nobody@127.0.0.1:1/x",
            "--target",
            "postgres://nobody@127.0.0.1:1/y",
            "--skip-extensions",
            "--filters",
        ])
        .arg(&filters)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--skip-extensions"), "{stderr}");
}

/// Configuration rows are under the row-count guard of table copies: a
/// target trigger that skips one fails the copy, naming the table and both
/// counts, and leaves the target's configuration as it was.
#[test]
fn config_rows_a_target_trigger_skips_fail_the_copy() {
    if !install_test_extension() {
        return;
    }
    let src = source();
    let tgt = Cluster::start();
    tgt.create_db("tgt");
    tgt.psql(
        "tgt",
        &format!(
            "CREATE SCHEMA cfg; \
             CREATE EXTENSION {EXT_NAME} WITH SCHEMA cfg; \
             CREATE FUNCTION skip_u2() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN IF NEW.value = 'u2' THEN RETURN NULL; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER skip_u2 BEFORE INSERT ON cfg.settings \
               FOR EACH ROW EXECUTE FUNCTION skip_u2();"
        ),
    );
    let before = config_rows(&tgt, "tgt");
    let out = run(&[
        "copy",
        "extensions",
        "--source",
        &src.uri("src"),
        "--target",
        &tgt.uri("tgt"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "copy extensions succeeded:\n{stderr}"
    );
    assert!(
        stderr.contains("cfg.settings: the source sent 3 rows but the target's COPY stored 2"),
        "{stderr}"
    );
    assert_eq!(config_rows(&tgt, "tgt"), before);
}
