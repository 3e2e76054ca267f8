//! Minimal throwaway PostgreSQL 15 clusters for the compare tests, until the
//! shared tests/support module lands: initdb into a temporary directory,
//! start on a free port with trust authentication on 127.0.0.1, stop with
//! `pg_ctl stop -m immediate` on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BINDIR: &str = "/usr/lib/postgresql/15/bin";

pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    pub port: u16,
}

fn bin(name: &str) -> PathBuf {
    Path::new(BINDIR).join(name)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Server programs refuse to run as root: run them as `postgres` then.
fn server_command(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    }
}

fn check(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("pgcopydb-compare-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let data = dir.path().join("data");
        let out = server_command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        check("initdb", out);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c full_page_writes=off -c synchronous_commit=off",
            dir.path().display()
        );
        let out = server_command("pg_ctl")
            .args(["-w", "-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.path().join("log"))
            .arg("start")
            .output()
            .unwrap();
        check("pg_ctl start", out);
        Cluster {
            _dir: dir,
            data,
            port,
        }
    }

    pub fn uri(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn client(&self, program: &str, db: &str) -> Command {
        let mut c = Command::new(bin(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ])
        .args(["-d", db]);
        c
    }

    /// Run SQL with psql, stopping at the first error; returns stdout.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client("psql", db)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        check(&format!("psql {sql}"), out)
    }

    /// `pg_dump db | psql` into `target`/`target_db`.
    pub fn dump_into(&self, db: &str, target: &Cluster, target_db: &str) {
        let mut dump = self
            .client("pg_dump", db)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = target
            .client("psql", target_db)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(dump.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(dump.wait().unwrap().success(), "pg_dump failed");
        check("psql restore", out);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = server_command("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["stop", "-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
