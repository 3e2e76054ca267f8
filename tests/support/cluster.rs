//! Throwaway PostgreSQL clusters: started with `initdb` and `pg_ctl` on a free
//! port, driven with `psql`, stopped and removed on drop. When the tests run as
//! root, every server program runs as the `postgres` user (PostgreSQL refuses to
//! run as root) and the temporary directories are handed to that user.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The PostgreSQL programs used when `PGCOPYDB_TEST_PGBIN` is not set.
pub const DEFAULT_PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// Environment variables of libpq that would leak the developer's setup into a test.
pub(super) const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGTARGETSESSIONATTRS",
    "PGAPPNAME",
    "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING",
    "PGTZ",
    "PGDATESTYLE",
];

/// A throwaway PostgreSQL cluster listening on 127.0.0.1 and on a unix socket in
/// its own temporary directory. Stopped (immediate) and removed on drop.
pub struct Cluster {
    /// TCP port on 127.0.0.1 (the unix socket uses the same number).
    pub port: u16,
    /// Directory holding `initdb`, `pg_ctl`, `postgres`, `psql`, `pg_dump`...
    pub bindir: PathBuf,
    /// Directory of the client programs (`psql`, `pg_dump`) used to talk to this
    /// server: `bindir`, unless that installation has none (the npm builds of
    /// older majors ship the server only), then [`pgbin`]'s, which is newer.
    pub client_bindir: PathBuf,
    home: Home,
    datadir: PathBuf,
    socket_dir: PathBuf,
    /// Databases this handle created on a shared server, dropped with it.
    created: Mutex<Vec<String>>,
}

/// Where a cluster's files live, and so who stops it.
enum Home {
    /// A private cluster: stopped and removed when its handle drops.
    Owned(tempfile::TempDir),
    /// A server shared by the test processes of a run (see [`super::shared`]):
    /// it outlives every handle, and scripts/test stops and removes it. The
    /// suffix makes this handle's database names its own.
    Shared { dir: PathBuf, suffix: String },
}

impl Home {
    fn path(&self) -> &Path {
        match self {
            Home::Owned(dir) => dir.path(),
            Home::Shared { dir, .. } => dir,
        }
    }
}

/// Whether this process runs as root, so that server programs must run as `postgres`.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The directory of the PostgreSQL programs the tests use.
pub fn pgbin() -> PathBuf {
    match std::env::var_os("PGCOPYDB_TEST_PGBIN") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_PGBIN),
    }
}

/// `Command` for a PostgreSQL client program (psql, pg_dump...) of `bindir`, with
/// the libpq environment cleared.
pub fn pg_client(bindir: &Path, program: &str) -> Command {
    let mut cmd = Command::new(bindir.join(program));
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `Command` for a server-side program (initdb, pg_ctl), run as `postgres` when root.
fn pg_server_cmd(bindir: &Path, program: &str) -> Command {
    let path = bindir.join(program);
    let mut cmd = if running_as_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(path);
        c
    } else {
        Command::new(path)
    };
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    cmd.env_remove("PGDATA");
    cmd.env("LC_ALL", "C.UTF-8");
    cmd.stdin(Stdio::null());
    cmd
}

pub(super) fn run_checked(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Give `path` to the `postgres` user when running as root (no-op otherwise).
pub fn hand_to_postgres(path: &Path) {
    if !running_as_root() {
        return;
    }
    let (uid, gid) = postgres_ids();
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
}

pub(super) fn postgres_ids() -> (u32, u32) {
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns NULL or a pointer to static storage, read at once.
    // The tests call it from one thread at a time per cluster; the values are copied out.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root but there is no `postgres` user to run the servers"
    );
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// A pseudo-random number, different for every call in every process.
pub(super) fn pseudo_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A port that is free right now on 127.0.0.1, chosen at random below Linux's
/// ephemeral range (32768+) so client connections' local ports don't take it.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = 20000 + (pseudo_random() % 12000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // Fall back to one the kernel picks.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free TCP port on 127.0.0.1")
}

fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

impl Cluster {
    /// The superuser (`postgres`) password, used over TCP (scram-sha-256).
    /// Tests check that it never shows up in pgcopydb's output or files.
    pub const PASSWORD: &'static str = "Pw-9xQz7-pgcopydbTEST";

    /// Start a cluster with the PostgreSQL of `PGCOPYDB_TEST_PGBIN`, or of
    /// /usr/lib/postgresql/15/bin.
    pub fn start() -> Cluster {
        Cluster::start_with(&pgbin(), &[])
    }

    /// Start a cluster with the programs of `bindir` and extra postgresql.conf settings.
    pub fn start_with(bindir: &Path, settings: &[(&str, &str)]) -> Cluster {
        assert!(
            bindir.join("initdb").exists(),
            "no initdb in {} (set PGCOPYDB_TEST_PGBIN)",
            bindir.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("pgcopydb-test-pg-")
            .tempdir()
            .expect("create temp dir");
        Cluster::init_and_start(Home::Owned(dir), bindir, settings)
    }

    /// `initdb` in `home` (an existing, empty directory), then start the
    /// server on a free port.
    fn init_and_start(home: Home, bindir: &Path, settings: &[(&str, &str)]) -> Cluster {
        let dir = home.path().to_path_buf();
        hand_to_postgres(&dir);
        let datadir = dir.join("data");
        let socket_dir = dir.join("sock");
        fs::create_dir(&socket_dir).expect("create socket dir");
        hand_to_postgres(&socket_dir);
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, format!("{}\n", Self::PASSWORD)).expect("write pwfile");
        hand_to_postgres(&pwfile);

        let mut initdb = pg_server_cmd(bindir, "initdb");
        initdb
            .arg("-D")
            .arg(&datadir)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("--no-sync");
        run_checked(initdb, "initdb");
        let _ = fs::remove_file(&pwfile);

        let mut conf = String::from("\n# pgcopydb tests\n");
        let defaults: &[(&str, &str)] = &[
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", &socket_dir.to_string_lossy()),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("shared_buffers", "32MB"),
            ("max_connections", "100"),
            ("wal_level", "logical"),
            ("max_wal_senders", "10"),
            ("max_replication_slots", "10"),
            ("dynamic_shared_memory_type", "mmap"),
            ("log_line_prefix", "%m [%p] %q%u@%d "),
            ("log_min_messages", "warning"),
            ("lc_messages", "C"),
        ];
        for (k, v) in defaults.iter().chain(settings.iter()) {
            conf.push_str(&format!("{k} = {}\n", conf_quote(v)));
        }
        conf.push_str("include 'pgcopydb_test_port.conf'\n");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(datadir.join("postgresql.conf"))
            .expect("open postgresql.conf");
        f.write_all(conf.as_bytes()).expect("write postgresql.conf");

        let client_bindir = if bindir.join("psql").exists() && bindir.join("pg_dump").exists() {
            bindir.to_path_buf()
        } else {
            pgbin()
        };
        let mut cluster = Cluster {
            port: 0,
            bindir: bindir.to_path_buf(),
            client_bindir,
            home,
            datadir,
            socket_dir,
            created: Mutex::new(Vec::new()),
        };
        // Another test may grab the port between our check and the server's bind: retry.
        let mut last_error = String::new();
        for _ in 0..25 {
            cluster.port = free_port();
            cluster.write_port();
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(e) if e.contains("Address already in use") || e.contains("could not bind") => {
                    last_error = e;
                    continue;
                }
                Err(e) => panic!("cannot start PostgreSQL:\n{e}"),
            }
        }
        panic!("cannot start PostgreSQL, every port was taken:\n{last_error}");
    }

    fn write_port(&self) {
        let path = self.datadir.join("pgcopydb_test_port.conf");
        fs::write(&path, format!("port = {}\n", self.port)).expect("write port conf");
        hand_to_postgres(&path);
    }

    /// `pg_ctl start -w`; on failure, the new part of the server log.
    fn try_start(&self) -> Result<(), String> {
        let before = self.log_len();
        let mut cmd = pg_server_cmd(&self.bindir, "pg_ctl");
        cmd.arg("start")
            .arg("-w")
            .args(["-t", "120"])
            .arg("-D")
            .arg(&self.datadir)
            .arg("-l")
            .arg(self.log_path());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        if out.status.success() {
            return Ok(());
        }
        // A half-started postmaster must not linger.
        self.pg_ctl_stop("immediate");
        let log = fs::read(self.log_path()).unwrap_or_default();
        let new_part = String::from_utf8_lossy(&log[(before as usize).min(log.len())..]);
        Err(format!(
            "pg_ctl start: {}\n{}{}\n--- server log\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            new_part
        ))
    }

    fn pg_ctl_stop(&self, mode: &str) -> bool {
        let mut cmd = pg_server_cmd(&self.bindir, "pg_ctl");
        cmd.arg("stop")
            .arg("-w")
            .args(["-t", "60"])
            .args(["-m", mode])
            .arg("-D")
            .arg(&self.datadir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.status().map(|s| s.success()).unwrap_or(false)
    }

    /// Whether the postmaster is running.
    pub fn is_running(&self) -> bool {
        let mut cmd = pg_server_cmd(&self.bindir, "pg_ctl");
        cmd.arg("status")
            .arg("-D")
            .arg(&self.datadir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.status().map(|s| s.success()).unwrap_or(false)
    }

    /// postgres://postgres:PASSWORD@127.0.0.1:PORT/DB
    pub fn uri(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}",
            Self::PASSWORD,
            self.port,
            encode_db(&self.db_name(db))
        )
    }

    /// postgres://postgres@127.0.0.1:PORT/DB (the password must come from elsewhere).
    pub fn uri_without_password(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port,
            encode_db(&self.db_name(db))
        )
    }

    /// A key=value connection string over the unix socket (trust, no password).
    pub fn socket_conninfo(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            conninfo_quote(&self.socket_dir.to_string_lossy()),
            self.port,
            conninfo_quote(&self.db_name(db))
        )
    }

    /// The unix socket directory (local connections: trust).
    pub fn socket_dir(&self) -> PathBuf {
        self.socket_dir.clone()
    }

    /// The data directory.
    pub fn datadir(&self) -> PathBuf {
        self.datadir.clone()
    }

    /// The server log (pg_ctl -l).
    pub fn log_path(&self) -> PathBuf {
        self.home.path().join("server.log")
    }

    /// Major version of the server, e.g. 15.
    pub fn major(&self) -> u32 {
        let v = fs::read_to_string(self.datadir.join("PG_VERSION")).expect("read PG_VERSION");
        v.trim().parse().expect("PG_VERSION is a number")
    }

    /// A client program of this cluster's client bindir, connected over the socket
    /// as postgres.
    pub fn client(&self, program: &str) -> Command {
        self.client_from(&self.client_bindir, program)
    }

    /// A client program of `bindir`, connected to this cluster over the socket as postgres.
    pub fn client_from(&self, bindir: &Path, program: &str) -> Command {
        let mut cmd = pg_client(bindir, program);
        cmd.arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg("postgres");
        cmd
    }

    fn psql_cmd(&self, db: &str) -> Command {
        let mut cmd = self.client("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.db_name(db));
        cmd
    }

    /// Run `sql` (any number of statements, fed on stdin) with
    /// `psql -X -At -v ON_ERROR_STOP=1`; stdout trimmed, or the error output.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.psql_cmd(db);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_stdin(cmd, sql.as_bytes())
            .map(|stdout| String::from_utf8_lossy(&stdout).trim().to_string())
    }

    /// Like [`Cluster::try_psql`], panicking with psql's error output on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|e| {
            panic!(
                "psql -d {db} failed on port {}:\n{e}\n--- sql\n{sql}",
                self.port
            )
        })
    }

    /// Run one query and return its rows, each a vector of fields (NULL as `None`).
    /// Fields may hold any text, newlines included.
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        const NULL: &str = "\u{1}NULL\u{1}";
        let mut cmd = self.psql_cmd(db);
        cmd.args(["-F", "\u{1f}", "-R", "\u{1e}", "-P"])
            .arg(format!("null={NULL}"))
            // Stable text forms whatever the database's own settings are.
            .env(
                "PGOPTIONS",
                "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres \
                 -c extra_float_digits=1 -c bytea_output=hex -c lc_monetary=C \
                 -c search_path=pg_catalog -c row_security=off",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = run_with_stdin(cmd, sql.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "query on {db} (port {}) failed:\n{e}\n--- sql\n{sql}",
                self.port
            )
        });
        let text = String::from_utf8_lossy(&out);
        // psql ends the output with a newline after the last record.
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if text.is_empty() {
            return Vec::new();
        }
        text.split('\u{1e}')
            .map(|rec| {
                rec.split('\u{1f}')
                    .map(|f| if f == NULL { None } else { Some(f.to_string()) })
                    .collect()
            })
            .collect()
    }

    /// `pg_dump db | psql` into `target`/`target_db`: a reference copy made
    /// without pgcopydb.
    pub fn dump_into(&self, db: &str, target: &Cluster, target_db: &str) {
        let mut dump = self
            .client("pg_dump")
            .arg("-d")
            .arg(self.db_name(db))
            .stdout(Stdio::piped())
            .spawn()
            .expect("run pg_dump");
        let out = target
            .client("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(target.db_name(target_db))
            .stdin(dump.stdout.take().expect("pg_dump stdout"))
            .output()
            .expect("run psql");
        assert!(
            dump.wait().expect("wait pg_dump").success(),
            "pg_dump failed"
        );
        assert!(
            out.status.success(),
            "psql restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// CREATE DATABASE name. On a shared server the database is dropped with
    /// this handle when the test passes (kept for a look when it fails).
    pub fn create_db(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", quote_ident(&self.db_name(name))),
        );
        self.record_created(name);
    }

    /// Note that this test created database `name` on a shared server (other
    /// than with [`Cluster::create_db`]), to drop it with the handle.
    pub fn record_created(&self, name: &str) {
        if self.is_shared() {
            let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
            created.push(self.db_name(name));
        }
    }

    /// The server's name for this handle's database `name`. On a shared
    /// server every test's databases live side by side: a handle's names are
    /// its own, `name` plus a suffix unique to the handle (tests run as
    /// processes under nextest, as threads under cargo test), so that tests
    /// keep writing `src.uri("app")` whichever server they run on. The
    /// built-in databases keep their names. Every method of a handle that
    /// takes a database name applies it; a test that writes a name into SQL
    /// or a command line itself must too.
    pub fn db_name(&self, name: &str) -> String {
        match &self.home {
            Home::Shared { suffix, .. }
                if !["postgres", "template0", "template1"].contains(&name) =>
            {
                format!("{name}{suffix}")
            }
            _ => name.to_string(),
        }
    }

    /// Whether other test processes use this server too (see [`super::shared`]).
    pub fn is_shared(&self) -> bool {
        matches!(self.home, Home::Shared { .. })
    }

    /// A handle on the shared server running in `home` on `port`.
    pub(super) fn attach_shared(home: PathBuf, port: u16) -> Cluster {
        let bindir = pgbin();
        Cluster {
            port,
            client_bindir: bindir.clone(),
            bindir,
            datadir: home.join("data"),
            socket_dir: home.join("sock"),
            home: Home::Shared {
                dir: home,
                suffix: super::shared::handle_suffix(),
            },
            created: Mutex::new(Vec::new()),
        }
    }

    /// Start the shared server in `home` (an empty directory): it is never
    /// stopped by a handle.
    pub(super) fn start_shared(home: PathBuf, settings: &[(&str, &str)]) -> Cluster {
        let home = Home::Shared {
            dir: home,
            suffix: super::shared::handle_suffix(),
        };
        Cluster::init_and_start(home, &pgbin(), settings)
    }

    /// Drop the databases this handle created on a shared server, unless the
    /// test is failing: then they stay for a look, and scripts/test removes
    /// them with the server. Never panics (this runs in `drop`).
    fn drop_created_databases(&self) {
        if std::thread::panicking() {
            return;
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for db in created.iter().rev() {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(db));
            if let Err(e) = self.try_psql("postgres", &sql) {
                eprintln!(
                    "could not drop {db} on the shared server (port {}): {e}",
                    self.port
                );
            }
        }
    }

    /// Stop the server at once, shared or not: for the owner of a shared
    /// server's directory (see [`super::shared::StopSharedOnDrop`]).
    pub(super) fn stop_immediately(&self) {
        self.pg_ctl_stop("immediate");
    }

    /// Stop the server (fast shutdown). The cluster can be started again with
    /// [`Cluster::restart`].
    pub fn stop(&self) {
        assert!(
            !self.is_shared(),
            "a test stops a shared server: use a private one"
        );
        if !self.pg_ctl_stop("fast") {
            assert!(!self.is_running(), "pg_ctl stop failed");
        }
    }

    /// Stop the server if it runs, then start it again on the same port.
    pub fn restart(&self) {
        assert!(
            !self.is_shared(),
            "a test restarts a shared server: use a private one"
        );
        if self.is_running() {
            self.stop();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_start() {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline && e.contains("Address already in use") => {
                    std::thread::sleep(Duration::from_millis(500))
                }
                Err(e) => panic!("cannot restart PostgreSQL:\n{e}"),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.is_shared() {
            self.drop_created_databases();
            return;
        }
        if self.datadir.join("postmaster.pid").exists() {
            self.pg_ctl_stop("immediate");
        }
        // The TempDir removes the directory (root may remove postgres' files).
    }
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // Write from another thread so a large output cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub(super) fn encode_db(db: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');
    utf8_percent_encode(db, SET).to_string()
}

/// `name` as a quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Cluster {
    /// Bytes of the server log so far, to look only at what comes after.
    pub fn log_len(&self) -> u64 {
        fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0)
    }

    /// With `log_statement = 'mod'`, the server logs every data-modifying or
    /// DDL statement: none may appear after `from` (a source is never written).
    pub fn assert_no_statements_since(&self, from: u64) {
        let log = fs::read(self.log_path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&log[(from as usize).min(log.len())..]);
        // A shared server logs other tests' statements too: only those in
        // this test's databases count (log_line_prefix has `user@db `).
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        let ours = |line: &str| {
            !self.is_shared() || created.iter().any(|db| line.contains(&format!("@{db} ")))
        };
        let writes: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("statement:") && ours(l))
            .collect();
        assert!(
            writes.is_empty(),
            "statements logged on port {}: {writes:#?}",
            self.port
        );
    }

    /// Manual VACUUMs and ANALYZEs (`vacuumdb` included; autovacuum not)
    /// run so far in `db`, catalogs included. `log_statement = 'mod'` does
    /// not log these, so a test that the source is never written checks
    /// this count too. A backend flushes its counts as it exits: read
    /// after the commands under test have ended.
    pub fn manual_maintenance_count(&self, db: &str) -> i64 {
        self.psql(
            db,
            "SELECT coalesce(sum(vacuum_count + analyze_count), 0) FROM pg_stat_all_tables",
        )
        .parse()
        .expect("a count")
    }

    /// `(estimate, exact)` size of `table` in `db`: the catalog estimate
    /// `relpages * block_size` of the heap plus its TOAST table, and
    /// `pg_table_size()`. Also asserts the TOAST part of the estimate when
    /// `toast_pages` is true (the fixture must exercise it).
    pub fn table_sizes(&self, db: &str, table: &str, toast_pages: bool) -> (i64, i64) {
        let row = self.query(
            db,
            &format!(
                "SELECT (c.relpages::int8 + coalesce(t.relpages, 0)) \
                        * current_setting('block_size')::int8, \
                        pg_table_size(c.oid), coalesce(t.relpages, 0) \
                   FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid \
                  WHERE c.oid = '{table}'::regclass"
            ),
        );
        let field = |i: usize| -> i64 { row[0][i].as_deref().unwrap().parse().unwrap() };
        if toast_pages {
            assert!(field(2) > 0, "{table}: no TOAST pages counted: {row:?}");
        }
        (field(0), field(1))
    }
}
