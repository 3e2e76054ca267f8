//! Dump a real PostgreSQL 15 database's schema, list it, and restore it
//! filtered into a second server.

// A test may panic on an unexpected answer (clippy.toml forbids it in src/).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pgcopydb::error::{exit_code_of, ExitCode};
use pgcopydb::schema::{self, RestoreOptions, Section, TocEntry};
use pgcopydb::tools::{self, PgTools};
use tokio_postgres::{Client, NoTls};

const BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway server in a temp dir, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // The server refuses to run as root; hand the dir to postgres.
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(server_cmd("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data));
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        run(server_cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-w", "-l"])
            .arg(dir.path().join("log"))
            .arg("start"));
        Cluster { dir, port }
    }

    fn conninfo(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    async fn connect(&self, db: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(&self.conninfo(db), NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn server_cmd(tool: &str) -> Command {
    let program = Path::new(BINDIR).join(tool);
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn pg15() -> PgTools {
    let tools = tools::choose(&tools::discover(), 15, 15).unwrap();
    assert_eq!(tools.major, 15);
    tools
}

const SOURCE_SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE TABLE app.a (id int PRIMARY KEY, v text);
CREATE TABLE app.b (id int PRIMARY KEY, a_id int REFERENCES app.a(id));
CREATE INDEX b_a_idx ON app.b (a_id);
CREATE INDEX a_v_idx ON app.a (v);
CREATE VIEW app.v AS SELECT * FROM app.a;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER a_touch BEFORE INSERT ON app.a FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TABLE app.a IS 'the a table';
CREATE TABLE app."we""ird
name" (x int);
CREATE INDEX "weird idx" ON app."we""ird
name" (x);
ALTER DATABASE src SET work_mem = '12MB';
ALTER DATABASE src SET search_path = "$user", app;
CREATE ROLE app_user;
ALTER ROLE app_user IN DATABASE src SET statement_timeout = '5s';
CREATE ROLE ghost;
ALTER ROLE ghost IN DATABASE src SET statement_timeout = '7s';
"#;

fn descs(entries: &[TocEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.desc.as_str()).collect()
}

fn count(entries: &[TocEntry], desc: &str) -> usize {
    entries.iter().filter(|e| e.desc == desc).count()
}

async fn exists(client: &Client, sql: &str) -> bool {
    client.query_opt(sql, &[]).await.unwrap().is_some()
}

#[test]
fn discover_finds_debian_pg15() {
    let want = std::fs::canonicalize(BINDIR).unwrap();
    let found = tools::discover();
    let pg15 = found.iter().find(|t| t.bindir == want);
    let pg15 = pg15.unwrap_or_else(|| panic!("{BINDIR} not in {found:?}"));
    assert_eq!(pg15.major, 15);
    assert!(pg15.version.starts_with("15."), "{}", pg15.version);
    assert!(pg15.pg_restore().is_file());
    // Dedup: the PATH symlinks into this bindir must not add a second entry.
    assert_eq!(found.iter().filter(|t| t.bindir == want).count(), 1);
}

#[tokio::test]
async fn schema_roundtrip() {
    let tools = pg15();
    let source = Cluster::start();
    let target = Cluster::start();
    let src_admin = source.connect("postgres").await;
    src_admin
        .batch_execute("CREATE DATABASE src")
        .await
        .unwrap();
    let tgt_admin = target.connect("postgres").await;
    tgt_admin
        .batch_execute("CREATE DATABASE dst")
        .await
        .unwrap();
    tgt_admin
        .batch_execute("CREATE ROLE app_user")
        .await
        .unwrap();
    let src = source.connect("src").await;
    src.batch_execute(SOURCE_SCHEMA).await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("schema.dump");
    let no_password: Option<&str> = None;
    schema::dump(&tools, &source.conninfo("src"), no_password, None, &archive)
        .await
        .unwrap();

    let pre = schema::list(&tools, &archive, Section::PreData)
        .await
        .unwrap();
    let post = schema::list(&tools, &archive, Section::PostData)
        .await
        .unwrap();
    for desc in ["SCHEMA", "FUNCTION", "TABLE", "VIEW", "COMMENT"] {
        assert!(
            count(&pre, desc) > 0,
            "{desc} missing from pre-data: {:?}",
            descs(&pre)
        );
    }
    assert_eq!(count(&pre, "TABLE"), 3);
    assert_eq!(count(&post, "CONSTRAINT"), 2, "{:?}", descs(&post));
    assert_eq!(count(&post, "INDEX"), 3);
    assert_eq!(count(&post, "TRIGGER"), 1);
    assert_eq!(count(&post, "FK CONSTRAINT"), 1);
    assert!(pre
        .iter()
        .all(|e| !["INDEX", "TRIGGER", "FK CONSTRAINT"].contains(&e.desc.as_str())));
    let mut ids: Vec<u32> = pre.iter().chain(&post).map(|e| e.dump_id).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "an entry is listed twice");

    // pg_restore prints the newline in the table name as a space.
    let weird = pre
        .iter()
        .find(|e| e.desc == "TABLE" && e.name.starts_with("we"))
        .unwrap();
    assert_eq!(weird.name, "we\"ird name");
    assert_eq!(weird.schema.as_deref(), Some("app"));
    assert_eq!(weird.owner.as_deref(), Some("postgres"));

    let pre_list = work.path().join("pre-filtered.list");
    let post_list = work.path().join("post-filtered.list");
    assert_eq!(
        schema::write_use_list(&pre, &|_| false, &pre_list).unwrap(),
        pre.len()
    );
    let skip_index = |e: &TocEntry| e.desc == "INDEX" && e.name == "a_v_idx";
    assert_eq!(
        schema::write_use_list(&post, &skip_index, &post_list).unwrap(),
        post.len() - 1
    );

    let dst = target.conninfo("dst");
    let single = RestoreOptions::default();
    let parallel = RestoreOptions {
        jobs: 2,
        ..RestoreOptions::default()
    };
    schema::restore(
        &tools,
        &dst,
        no_password,
        &archive,
        Section::PreData,
        &pre_list,
        &single,
    )
    .await
    .unwrap();
    schema::restore(
        &tools,
        &dst,
        no_password,
        &archive,
        Section::PostData,
        &post_list,
        &parallel,
    )
    .await
    .unwrap();

    let t = target.connect("dst").await;
    let tables = t
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'app'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(tables.get::<_, i64>(0), 3);
    assert!(
        exists(
            &t,
            "SELECT 1 FROM pg_class WHERE relname = E'we\"ird\\nname'"
        )
        .await
    );
    assert!(
        exists(
            &t,
            "SELECT 1 FROM pg_constraint WHERE conname = 'b_a_id_fkey' AND contype = 'f'"
        )
        .await
    );
    assert!(exists(&t, "SELECT 1 FROM pg_trigger WHERE tgname = 'a_touch'").await);
    assert!(exists(&t, "SELECT 1 FROM pg_indexes WHERE indexname = 'b_a_idx'").await);
    assert!(exists(&t, "SELECT 1 FROM pg_indexes WHERE indexname = 'weird idx'").await);
    assert!(!exists(&t, "SELECT 1 FROM pg_indexes WHERE indexname = 'a_v_idx'").await);
    assert!(
        exists(
            &t,
            "SELECT 1 WHERE obj_description('app.a'::regclass) = 'the a table'"
        )
        .await
    );

    // Restoring again fails on the first existing object, and says which.
    let err = schema::restore(
        &tools,
        &dst,
        no_password,
        &archive,
        Section::PreData,
        &pre_list,
        &single,
    )
    .await
    .unwrap_err();
    assert_eq!(exit_code_of(&err), ExitCode::Target);
    assert!(err.to_string().contains("already exists"), "{err}");

    // Simulate a source newer than the target: a setting the target server
    // does not know. Written straight into the catalog since the source
    // (same version) would refuse it too.
    src_admin
        .batch_execute(
            "UPDATE pg_db_role_setting SET setconfig = setconfig || '{no_such_setting=1}' \
             WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = 'src')",
        )
        .await
        .unwrap();
    // work_mem and search_path for the database, statement_timeout for
    // app_user; ghost does not exist on the target.
    assert_eq!(schema::copy_db_properties(&src, &t).await.unwrap(), 3);
    let settings: Vec<(Option<String>, Vec<String>)> = t
        .query(
            "SELECT r.rolname::text, s.setconfig FROM pg_db_role_setting s \
             LEFT JOIN pg_roles r ON r.oid = s.setrole \
             WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = 'dst') \
             ORDER BY s.setrole",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        settings,
        [
            (
                None,
                vec![
                    "work_mem=12MB".to_string(),
                    "search_path=\"$user\", app".to_string()
                ]
            ),
            (
                Some("app_user".to_string()),
                vec!["statement_timeout=5s".to_string()]
            ),
        ]
    );
}

#[tokio::test]
async fn dump_failure_reports_pg_dump_stderr() {
    let tools = pg15();
    let source = Cluster::start();
    let out: PathBuf = source.dir.path().join("never.dump");
    let err = schema::dump(
        &tools,
        &source.conninfo("postgres"),
        None,
        Some("00000003-0000001B-1"),
        &out,
    )
    .await
    .unwrap_err();
    assert_eq!(exit_code_of(&err), ExitCode::Source);
    assert!(
        err.to_string().contains("invalid snapshot identifier"),
        "{err}"
    );
}
