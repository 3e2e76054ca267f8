//! A pgbouncer in front of a test cluster, run as the servers' user
//! (pgbouncer refuses to run as root).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::{
    encode_db, free_port, hand_to_postgres, postgres_ids, running_as_root, Cluster,
};

/// The pgbouncer program, if installed.
pub fn pgbouncer_program() -> Option<PathBuf> {
    let path = Path::new("/usr/sbin/pgbouncer");
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.exists())
}

/// A running pgbouncer; stopped on drop.
pub struct Pgbouncer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Pgbouncer {
    /// Start pgbouncer on 127.0.0.1 with `pool_mode` (session, transaction)
    /// for every database of `cluster`, reached over its unix socket, plus
    /// `app_alias` for its database `app`. The clients authenticate with the
    /// cluster's superuser password, as `postgres` or as `plain`.
    pub fn start(program: &Path, cluster: &Cluster, pool_mode: &str) -> Pgbouncer {
        let dir = tempfile::Builder::new()
            .prefix("pgcopydb-test-pgbouncer-")
            .tempdir()
            .expect("create pgbouncer dir");
        hand_to_postgres(dir.path());
        let userlist = dir.path().join("userlist.txt");
        let password = Cluster::PASSWORD;
        fs::write(
            &userlist,
            format!("\"postgres\" \"{password}\"\n\"plain\" \"{password}\"\n"),
        )
        .expect("write userlist");
        hand_to_postgres(&userlist);
        let mut last_log = String::new();
        for _ in 0..25 {
            let port = free_port();
            let ini = dir.path().join("pgbouncer.ini");
            let log = dir.path().join("pgbouncer.log");
            fs::write(
                &ini,
                format!(
                    "[databases]\n* = host={socket} port={server}\n\
                     app_alias = host={socket} port={server} dbname=app\n\n[pgbouncer]\n\
                     listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                     auth_type = scram-sha-256\nauth_file = {userlist}\n\
                     pool_mode = {pool_mode}\nmax_client_conn = 200\ndefault_pool_size = 40\n\
                     ignore_startup_parameters = extra_float_digits\n\
                     logfile = {log}\n",
                    socket = cluster.socket_dir().display(),
                    server = cluster.port,
                    userlist = userlist.display(),
                    log = log.display(),
                ),
            )
            .expect("write pgbouncer.ini");
            hand_to_postgres(&ini);
            let mut cmd = Command::new(program);
            cmd.arg(&ini)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if running_as_root() {
                let (uid, gid) = postgres_ids();
                cmd.uid(uid).gid(gid);
            }
            let mut child = cmd.spawn().expect("start pgbouncer");
            if listening(&mut child, port) {
                return Pgbouncer { port, dir, child };
            }
            // Another process may have taken the port: retry.
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("cannot start pgbouncer:\n{last_log}");
    }

    /// postgres://postgres:PASSWORD@127.0.0.1:PORT/DB through the pooler.
    pub fn uri(&self, db: &str) -> String {
        self.uri_as("postgres", db)
    }

    /// postgres://USER:PASSWORD@127.0.0.1:PORT/DB through the pooler.
    pub fn uri_as(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{}@127.0.0.1:{}/{}",
            Cluster::PASSWORD,
            self.port,
            encode_db(db)
        )
    }

    /// pgbouncer's log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

/// Until pgbouncer accepts connections on `port` (true) or has exited (false).
fn listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + super::follow::HANG_GUARD;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
