//! Servers shared by the test processes of one run, each test in databases of
//! its own.
//!
//! cargo-nextest runs every test in its own process. Most tests only read a
//! source database and write a fresh target database: they need databases of
//! their own, not servers of their own, and starting two private clusters
//! (initdb, then pg_ctl, seconds each) per test was most of the suite's time.
//!
//! How: scripts/test (the README's test command, which CI runs) creates a
//! directory, exports it as `PGCOPYDB_TEST_SHARED_DIR`, runs cargo-nextest,
//! then stops every server in that directory and removes it, whatever the
//! outcome (a shell trap). The first test that asks for a shared server starts
//! it there under a file lock (cluster.rs builds it, like a private one); the
//! others wait on the lock, then attach to it. Without the variable (a plain
//! `cargo nextest run -E ...` of one test) every call falls back to a private
//! cluster with the same settings, so a test behaves alike both ways.
//!
//! Why not the alternatives:
//! - nextest setup scripts can start servers and export their ports to the
//!   tests, but nextest has no teardown step: nothing would stop the servers.
//! - servers started lazily by the tests with a reaper left behind need that
//!   reaper to guess when the run is over (a timeout, or a parent to watch).
//!
//! The script owns the servers' lifetime; starting them lazily from here keeps
//! one way to build a cluster and costs nothing to a run that uses none.
//!
//! Two servers, from two `initdb`s: pgcopydb rightly refuses a source and a
//! target that are one instance (same system identifier). Tests that stop or
//! restart a server, change server-wide settings, copy roles or whole
//! instances, or count sessions server-wide keep private clusters.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::cluster::{pgbin, pseudo_random, Cluster};
use super::fixtures::fixture;

/// The directory scripts/test owns for the run's shared servers.
pub const SHARED_DIR_ENV: &str = "PGCOPYDB_TEST_SHARED_DIR";

/// Which shared server.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    /// Settings of the shared server (and of its private stand-in). Many
    /// tests at once, each with pgcopydb's parallel jobs: room for their
    /// sessions. The source logs every write, so that a test can check that
    /// pgcopydb never wrote to its source database (log_line_prefix names
    /// the database: see [`Cluster::assert_no_statements_since`]).
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Side::Source => &[("max_connections", "300"), ("log_statement", "mod")],
            Side::Target => &[("max_connections", "300")],
        }
    }
}

impl Cluster {
    /// The run's shared source server, or a private one with the same
    /// settings when the tests run without scripts/test.
    pub fn shared_source() -> Cluster {
        shared_or_private(Side::Source)
    }

    /// The run's shared target server (another `initdb` than the source), or
    /// a private one.
    pub fn shared_target() -> Cluster {
        shared_or_private(Side::Target)
    }
}

/// The shared source and target servers, each with a new empty database `db`
/// (see [`Cluster::db_name`]; dropped with the handles when the test passes).
pub fn shared_source_and_target(db: &str) -> (Cluster, Cluster) {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db(db);
    tgt.create_db(db);
    (src, tgt)
}

/// What [`Cluster::db_name`] appends for a new handle on a shared server:
/// the process id and a random part, so that no two tests of the run (as
/// processes or as threads) name a database alike.
pub(super) fn handle_suffix() -> String {
    format!(
        "_{}_{:06x}",
        std::process::id(),
        pseudo_random() & 0xff_ffff
    )
}

fn shared_or_private(side: Side) -> Cluster {
    match std::env::var_os(SHARED_DIR_ENV) {
        Some(dir) if !dir.is_empty() => attach_or_start(Path::new(&dir), side),
        _ => Cluster::start_with(&pgbin(), side.settings()),
    }
}

/// Attach to the shared server of `side` in `root`, starting it if no test
/// did yet. The lock makes one process start it while the others wait.
pub fn attach_or_start(root: &Path, side: Side) -> Cluster {
    let lock_path = root.join(format!("{}.lock", side.name()));
    let lock = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    // SAFETY: flock on a descriptor we own; released when `lock` closes,
    // also when this process dies while starting the server.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock {}", lock_path.display());

    // `<side>.ready` holds the port and the directory of a started server.
    let ready = root.join(format!("{}.ready", side.name()));
    if let Ok(text) = fs::read_to_string(&ready) {
        let mut lines = text.lines();
        let port = lines.next().and_then(|p| p.parse().ok());
        let home = lines.next().map(PathBuf::from);
        let (Some(port), Some(home)) = (port, home) else {
            panic!("{}: not a port and a directory: {text:?}", ready.display());
        };
        let cluster = Cluster::attach_shared(home, port);
        assert!(
            cluster.is_running(),
            "the shared {} server (port {port}) is not running: something stopped it under the run",
            side.name()
        );
        return cluster;
    }

    // A directory of this process's own: one left by a test that died while
    // starting the server is not reused (scripts/test still removes it).
    let home = root.join(format!("{}-{}", side.name(), std::process::id()));
    fs::create_dir(&home).unwrap_or_else(|e| panic!("create {}: {e}", home.display()));
    let cluster = Cluster::start_shared(home.clone(), side.settings());
    // Roles are global to a server: the fixtures' roles are created once
    // here, so that tests loading them at once find them and race on nothing.
    cluster.load_sql_file("postgres", &fixture("roles.sql"));

    let partial = root.join(format!("{}.ready.tmp", side.name()));
    let mut file = fs::File::create(&partial).expect("create the ready file");
    writeln!(file, "{}\n{}", cluster.port, home.display()).expect("write the ready file");
    drop(file);
    fs::rename(&partial, &ready).expect("publish the ready file");
    cluster
}

/// Stop the shared servers started in `root` when dropped: what scripts/test
/// does at the end of a run, for a test of this module that owns its `root`.
pub struct StopSharedOnDrop(pub PathBuf);

impl Drop for StopSharedOnDrop {
    fn drop(&mut self) {
        for side in [Side::Source, Side::Target] {
            let ready = self.0.join(format!("{}.ready", side.name()));
            let Ok(text) = fs::read_to_string(&ready) else {
                continue;
            };
            let mut lines = text.lines();
            if let (Some(Ok(port)), Some(home)) = (lines.next().map(str::parse), lines.next()) {
                Cluster::attach_shared(PathBuf::from(home), port).stop_immediately();
            }
        }
    }
}
