//! What the tests load into their clusters: the demo database, pagila, the SQL
//! files under tests/fixtures, and small table fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cluster::{run_checked, Cluster, LIBPQ_ENV};

/// The pagila loader directory (datasets/pagila, holding load.sh):
/// `PGCOPYDB_TEST_PAGILA_DIR`, else ../shared/datasets/pagila beside the
/// repository.
pub fn pagila_dir() -> PathBuf {
    try_pagila_dir().unwrap_or_else(|| panic!("{PAGILA_ABSENT}"))
}

const PAGILA_ABSENT: &str = "pagila not found (set PGCOPYDB_TEST_PAGILA_DIR to a directory \
                             holding its load.sh, or put shared/datasets/pagila beside the repository)";

/// [`pagila_dir`], or None when no copy of pagila is found.
pub fn try_pagila_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PGCOPYDB_TEST_PAGILA_DIR") {
        return Some(PathBuf::from(dir));
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/pagila");
    beside.join("load.sh").exists().then_some(beside)
}

/// Whether pagila is there; when not, says in one line that the test is
/// skipped. Tests on pagila only add to the same checks on the demo
/// database, which always runs.
pub fn pagila_or_skip() -> bool {
    let found = try_pagila_dir().is_some();
    if !found {
        eprintln!("skipped: {PAGILA_ABSENT}");
    }
    found
}

/// scripts/demo-db.sql: the demo database's generator.
pub fn demo_db_sql() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo-db.sql")
}

/// A fixture file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A source and a target server, each with an empty database `db`.
pub fn source_and_target(db: &str) -> (Cluster, Cluster) {
    let src = Cluster::start();
    let tgt = Cluster::start();
    src.create_db(db);
    tgt.create_db(db);
    (src, tgt)
}

impl Cluster {
    /// Create database `db` and build the demo database in it with
    /// scripts/demo-db.sql (the sample scripts/demo clones).
    pub fn load_demo(&self, db: &str) {
        self.create_db(db);
        self.load_sql_file(db, &demo_db_sql());
    }

    /// Create database `db` and load the pagila sample into it, with
    /// datasets/pagila/load.sh (the database must not exist yet). Only for
    /// tests that first checked [`pagila_or_skip`].
    pub fn load_pagila(&self, db: &str) {
        let script = pagila_dir().join("load.sh");
        let path = format!(
            "{}:{}",
            self.client_bindir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        for var in LIBPQ_ENV {
            cmd.env_remove(var);
        }
        cmd.arg(&script)
            .arg(self.socket_conninfo("postgres"))
            .arg(self.db_name(db))
            .env("PATH", path)
            .stdin(Stdio::null());
        run_checked(cmd, "pagila load.sh");
        self.record_created(db);
    }

    /// Run a SQL file with psql -v ON_ERROR_STOP=1 in `db`.
    pub fn load_sql_file(&self, db: &str, path: &Path) {
        let mut cmd = self.client("psql");
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.db_name(db))
            .arg("-f")
            .arg(path)
            .stdout(Stdio::null());
        run_checked(cmd, &format!("psql -f {}", path.display()));
    }
}

/// For `--estimate-table-sizes`: `analyzed` (VACUUM ANALYZEd, its rows in TOAST) and `never` (no
/// VACUUM nor ANALYZE, no index: `relpages` is 0 though it is the larger).
pub const SIZES_FIXTURE: &str = "
    CREATE TABLE analyzed (id serial PRIMARY KEY, doc text);
    INSERT INTO analyzed (doc)
         SELECT (SELECT string_agg(md5(i || '-' || g), '') FROM generate_series(1, 100) g)
           FROM generate_series(1, 300) i;
    CREATE TABLE never (id int, v text);
    INSERT INTO never SELECT i, repeat('v', 100) FROM generate_series(1, 20000) i;
    VACUUM ANALYZE analyzed;";
