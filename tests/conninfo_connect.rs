//! conninfo against real PostgreSQL 15 servers: passwords from the URI, the
//! environment and .pgpass, error kinds, and the sslmodes over rustls.

// A test may panic on an unexpected answer (clippy.toml forbids it in src/).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pgcopydb::conninfo::{ConnInfo, ConnectErrorKind};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PASSWORD: &str = "Secr3t-pw";

/// A throwaway cluster: initdb'd in a temp dir, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command as postgres when we are root: the server refuses to run as root.
fn run_pg(program: &str, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().expect("run PostgreSQL tool");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(program: &str, args: &[&str], cwd: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// `ssl`: make a CA and a server certificate for "localhost" and turn ssl on.
    fn start(ssl: bool) -> Cluster {
        assert!(
            Path::new(BIN).is_dir(),
            "PostgreSQL 15 binaries not found in {BIN}"
        );
        let dir = tempfile::tempdir().unwrap();
        if ssl {
            make_certs(dir.path());
        }
        if is_root() {
            run("chown", &["-R", "postgres:postgres", "."], dir.path());
        }
        let data = dir.path().join("data");
        let data_s = data.to_str().unwrap();
        run_pg(
            &format!("{BIN}/initdb"),
            &[
                "-D",
                data_s,
                "-U",
                "postgres",
                "-N",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
        );
        let port = free_port();
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.path().display()
        );
        if ssl {
            let d = dir.path().display();
            conf += &format!(
                "ssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\n\
                 ssl_ca_file = '{d}/ca.crt'\n"
            );
            // certbob logs in with a client certificate only.
            let hba_path = data.join("pg_hba.conf");
            let hba = std::fs::read_to_string(&hba_path).unwrap();
            std::fs::write(
                &hba_path,
                format!("hostssl all certbob 127.0.0.1/32 cert\n{hba}"),
            )
            .unwrap();
        }
        let conf_path = data.join("postgresql.conf");
        let mut all = std::fs::read_to_string(&conf_path).unwrap();
        all += &conf;
        std::fs::write(&conf_path, all).unwrap();
        let log = dir.path().join("log");
        run_pg(
            &format!("{BIN}/pg_ctl"),
            &["-D", data_s, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        Cluster { dir, port }
    }

    /// Superuser over the unix socket (trust), for setup.
    fn admin(&self) -> ConnInfo {
        let s = format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.path().display(),
            self.port
        );
        ConnInfo::resolve_with(&s, &env(&[])).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let stop = format!("{BIN}/pg_ctl");
        let args = ["-D", data.to_str().unwrap(), "-m", "immediate", "stop"];
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &stop]);
            c
        } else {
            Command::new(&stop)
        };
        let _ = cmd.args(args).output();
    }
}

/// ca.crt signs server.crt (SAN localhost only) and client.crt (CN
/// certbob); other-ca.crt signs nothing.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut args = vec!["req", "-x509", "-days", "2", "-subj"];
        let subj = format!("/CN={ca}");
        let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
        args.extend([subj.as_str(), "-keyout", &key, "-out", &crt]);
        args.extend(ec);
        run("openssl", &args, dir);
    }
    let mut args = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    args.extend(ec);
    run("openssl", &args, dir);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
        dir,
    );
    // Extensions make it an X.509 v3 certificate, the only version rustls takes.
    std::fs::write(
        dir.join("client-ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(
        "openssl",
        &[
            "req",
            "-subj",
            "/CN=certbob",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ]
        .into_iter()
        .chain(ec)
        .collect::<Vec<_>>(),
        dir,
    );
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client-ext.cnf",
            "-out",
            "client.crt",
        ],
        dir,
    );
    for key in ["server.key", "client.key"] {
        std::fs::set_permissions(dir.join(key), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// An isolated environment: HOME in a place without .pgpass or ~/.postgresql.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("HOME".into())
        .or_insert_with(|| "/nonexistent-home".into());
    move |k| map.get(k).cloned()
}

fn info(s: &str, pairs: &[(&str, &str)]) -> ConnInfo {
    ConnInfo::resolve_with(s, &env(pairs)).unwrap()
}

async fn admin_sql(cluster: &Cluster, sql: &str) {
    let admin = cluster.admin().connect().await.expect("admin connection");
    admin.batch_execute(sql).await.unwrap();
}

async fn setup_bob(cluster: &Cluster) {
    let admin = cluster.admin().connect().await.expect("admin connection");
    // Two statements: CREATE DATABASE may not share a transaction block.
    for sql in [
        format!("CREATE ROLE bob LOGIN PASSWORD '{PASSWORD}'"),
        "CREATE DATABASE app OWNER bob".to_string(),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
}

async fn uses_ssl(c: &ConnInfo) -> bool {
    let client = c.connect().await.unwrap_or_else(|e| panic!("{c:?}: {e}"));
    session_ssl(&client).await
}

/// Whether the session of `client` runs over TLS, as the server sees it.
async fn session_ssl(client: &tokio_postgres::Client) -> bool {
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

async fn connect_err(c: &ConnInfo) -> (ConnectErrorKind, String) {
    match c.connect().await {
        Ok(_) => panic!("connection should have failed: {c:?}"),
        Err(e) => {
            eprintln!("expected failure: {:?}: {e}", e.kind());
            (e.kind(), e.to_string())
        }
    }
}

#[tokio::test]
async fn plain_server() {
    let cluster = Cluster::start(false);
    setup_bob(&cluster).await;
    let port = cluster.port;
    let tcp = format!("host=127.0.0.1 port={port} user=bob dbname=app");

    // Password in the URI.
    let c = info(
        &format!("postgresql://bob:{PASSWORD}@127.0.0.1:{port}/app"),
        &[],
    );
    let client = c.connect().await.unwrap();
    let row = client
        .query_one(
            "SELECT current_user::text, current_setting('application_name')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "bob");
    assert_eq!(row.get::<_, String>(1), "pgcopydb");

    // The cancel path needs tls(): cancel a long sleep, once the server
    // shows it running (a cancel that arrives before the query is lost);
    // long enough that no loaded machine sees it end before the cancel.
    let token = client.cancel_token();
    let tls = c.tls().unwrap();
    let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(600)").await });
    let watcher = cluster.admin().connect().await.expect("admin connection");
    loop {
        let sleeping: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                  WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sleeping == 1 {
            break;
        }
        assert!(!sleeper.is_finished(), "the sleep ended before it was seen");
        tokio::task::yield_now().await;
    }
    token.cancel_query(tls).await.unwrap();
    let err = sleeper.await.unwrap().unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );

    // PGPASSWORD-style environment.
    let c = info(&tcp, &[("PGPASSWORD", PASSWORD)]);
    c.connect().await.unwrap();

    // .pgpass in HOME, 0600.
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{port}:app:bob:{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = info(&tcp, &[("HOME", home.path().to_str().unwrap())]);
    c.connect().await.unwrap();

    // Wrong password.
    let c = info(&format!("{tcp} password=Wr0ng-pw"), &[]);
    let (kind, msg) = connect_err(&c).await;
    assert_eq!(kind, ConnectErrorKind::Auth, "{msg}");
    assert_eq!(
        msg,
        format!("password authentication failed for user \"bob\" on 127.0.0.1:{port}")
    );
    assert!(!msg.contains("Wr0ng-pw"));

    // No password at all.
    let (kind, msg) = connect_err(&info(&tcp, &[])).await;
    assert_eq!(kind, ConnectErrorKind::Auth, "{msg}");
    assert!(msg.contains("requested a password"), "{msg}");

    // Nobody listening.
    let dead = free_port();
    let c = info(
        &format!("host=127.0.0.1 port={dead} password={PASSWORD}"),
        &[],
    );
    let (kind, msg) = connect_err(&c).await;
    assert_eq!(kind, ConnectErrorKind::Unreachable, "{msg}");
    assert_eq!(
        msg,
        format!("could not connect to 127.0.0.1:{dead}: connection refused")
    );

    // Missing database.
    let c = info(&format!("{tcp} dbname=nope password={PASSWORD}"), &[]);
    let (kind, msg) = connect_err(&c).await;
    assert_eq!(kind, ConnectErrorKind::NoDatabase, "{msg}");
    assert_eq!(
        msg,
        format!("database \"nope\" does not exist on 127.0.0.1:{port}")
    );

    // TLS demanded from a server without it.
    let c = info(&format!("{tcp} password={PASSWORD} sslmode=require"), &[]);
    let (kind, msg) = connect_err(&c).await;
    assert_eq!(kind, ConnectErrorKind::Tls, "{msg}");
    assert!(msg.contains("server does not support TLS"), "{msg}");

    // disable and the default prefer both work, in plain text.
    let c = info(&format!("{tcp} password={PASSWORD} sslmode=disable"), &[]);
    assert!(!uses_ssl(&c).await);
    assert!(!uses_ssl(&info(&format!("{tcp} password={PASSWORD}"), &[])).await);

    // Multi-host: the dead one is skipped.
    let s = format!(
        "host=127.0.0.1,127.0.0.1 port={dead},{port} user=bob dbname=app password={PASSWORD}"
    );
    info(&s, &[]).connect().await.unwrap();
}

#[tokio::test]
async fn ssl_server() {
    let cluster = Cluster::start(true);
    setup_bob(&cluster).await;
    let port = cluster.port;
    let ca = cluster.path("ca.crt");
    let other = cluster.path("other-ca.crt");
    let (ca, other) = (ca.display(), other.display());
    let at = |host: &str, rest: &str| {
        info(
            &format!("host={host} port={port} user=bob dbname=app password={PASSWORD} {rest}"),
            &[],
        )
    };

    assert!(
        uses_ssl(&at("127.0.0.1", "")).await,
        "prefer uses TLS when offered"
    );
    assert!(uses_ssl(&at("127.0.0.1", "sslmode=require")).await);
    assert!(!uses_ssl(&at("127.0.0.1", "sslmode=disable")).await);

    // verify-ca ignores the name (the certificate is for localhost only).
    let c = at("127.0.0.1", &format!("sslmode=verify-ca sslrootcert={ca}"));
    assert!(uses_ssl(&c).await);
    // verify-full does not.
    let c = at(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    );
    let (kind, msg) = connect_err(&c).await;
    assert_eq!(kind, ConnectErrorKind::Tls, "{msg}");
    assert!(
        msg.starts_with(&format!("TLS error on 127.0.0.1:{port}: ")),
        "{msg}"
    );
    assert!(!msg.contains(PASSWORD));
    let c = at(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    );
    assert!(uses_ssl(&c).await);

    // Like libpq, no TLS over a unix socket, even when required.
    let socket = format!(
        "host={} port={port} user=postgres sslmode=require",
        cluster.dir.path().display()
    );
    assert!(!uses_ssl(&info(&socket, &[])).await);

    // The wrong CA fails verify-ca, and require too once a root is given (libpq).
    for mode in ["verify-ca", "require"] {
        let c = at("127.0.0.1", &format!("sslmode={mode} sslrootcert={other}"));
        let (kind, msg) = connect_err(&c).await;
        assert_eq!(kind, ConnectErrorKind::Tls, "{mode}: {msg}");
    }
    // prefer falls back to plain text when the certificate does not verify.
    let c = at("127.0.0.1", &format!("sslmode=prefer sslrootcert={other}"));
    assert!(!uses_ssl(&c).await);
}

/// Over a socket of pgcopydb's own (the COPY relay's source readers): the
/// relay's handle stays usable under TLS, and the sslmodes, fallbacks, host
/// lists, target_session_attrs and error kinds are those of the usual path.
#[tokio::test]
async fn tapped_connections_follow_the_same_rules() {
    async fn tapped_ssl(c: &ConnInfo) -> (bool, bool) {
        let (client, handle, _) = c
            .connect_tapped()
            .await
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        (session_ssl(&client).await, handle.usable())
    }
    async fn tapped_err(c: &ConnInfo) -> (ConnectErrorKind, String) {
        match c.connect_tapped().await {
            Ok(_) => panic!("connection should have failed: {c:?}"),
            Err(e) => (e.kind(), e.to_string()),
        }
    }

    let ssl = Cluster::start(true);
    setup_bob(&ssl).await;
    let ca = ssl.path("ca.crt");
    let other = ssl.path("other-ca.crt");
    let at = |cluster: &Cluster, rest: &str| {
        info(
            &format!(
                "host=127.0.0.1 port={} user=bob dbname=app password={PASSWORD} {rest}",
                cluster.port
            ),
            &[],
        )
    };
    // prefer and require: TLS, and the relay reads above it.
    assert_eq!(tapped_ssl(&at(&ssl, "")).await, (true, true));
    assert_eq!(tapped_ssl(&at(&ssl, "sslmode=require")).await, (true, true));
    // SCRAM's channel binding sees the TLS session under the tap.
    assert_eq!(
        tapped_ssl(&at(&ssl, "sslmode=require channel_binding=require")).await,
        (true, true)
    );
    assert_eq!(
        tapped_ssl(&at(&ssl, "sslmode=disable")).await,
        (false, true)
    );
    let c = at(
        &ssl,
        &format!("sslmode=verify-ca sslrootcert={}", ca.display()),
    );
    assert_eq!(tapped_ssl(&c).await, (true, true));
    // verify-full: the certificate names localhost, not 127.0.0.1.
    let c = at(
        &ssl,
        &format!("sslmode=verify-full sslrootcert={}", ca.display()),
    );
    assert_eq!(tapped_err(&c).await.0, ConnectErrorKind::Tls);
    let c = info(
        &format!(
            "host=localhost hostaddr=127.0.0.1 port={} user=bob dbname=app password={PASSWORD} \
             sslmode=verify-full sslrootcert={}",
            ssl.port,
            ca.display()
        ),
        &[],
    );
    assert_eq!(tapped_ssl(&c).await, (true, true));
    for mode in ["require", "verify-ca"] {
        let c = at(
            &ssl,
            &format!("sslmode={mode} sslrootcert={}", other.display()),
        );
        assert_eq!(tapped_err(&c).await.0, ConnectErrorKind::Tls, "{mode}");
    }
    // prefer falls back to plain text when the certificate does not verify.
    let c = at(
        &ssl,
        &format!("sslmode=prefer sslrootcert={}", other.display()),
    );
    assert_eq!(tapped_ssl(&c).await, (false, true));
    // A client certificate: certbob's only way in.
    admin_sql(&ssl, "CREATE ROLE certbob LOGIN").await;
    let certbob = |rest: &str| {
        info(
            &format!(
                "host=127.0.0.1 port={} user=certbob dbname=app sslmode=require {rest}",
                ssl.port
            ),
            &[],
        )
    };
    let with_cert = certbob(&format!(
        "sslcert={} sslkey={}",
        ssl.path("client.crt").display(),
        ssl.path("client.key").display()
    ));
    assert_eq!(tapped_ssl(&with_cert).await, (true, true));
    assert!(uses_ssl(&with_cert).await);
    assert_eq!(tapped_err(&certbob("")).await.0, ConnectErrorKind::Auth);
    // Several hosts: the first that answers; target_session_attrs checked.
    let hosts = |attrs: &str| {
        info(
            &format!(
                "host=127.0.0.1,127.0.0.1 port={},{} user=bob dbname=app password={PASSWORD} \
                 sslmode=require {attrs}",
                free_port(),
                ssl.port
            ),
            &[],
        )
    };
    assert_eq!(tapped_ssl(&hosts("")).await, (true, true));
    assert_eq!(
        tapped_ssl(&hosts("target_session_attrs=read-write")).await,
        (true, true)
    );
    let (kind, msg) = tapped_err(&hosts("target_session_attrs=read-only")).await;
    assert_eq!(kind, ConnectErrorKind::Unreachable, "{msg}");
    assert!(
        msg.ends_with(&format!(
            "127.0.0.1:{}: database is not read only",
            ssl.port
        )),
        "{msg}"
    );

    let plain = Cluster::start(false);
    setup_bob(&plain).await;
    assert_eq!(tapped_ssl(&at(&plain, "")).await, (false, true));
    let (kind, msg) = tapped_err(&at(&plain, "sslmode=require")).await;
    assert_eq!(kind, ConnectErrorKind::Tls, "{msg}");
    assert!(msg.contains("server does not support TLS"), "{msg}");
    let socket = format!(
        "host={} port={} user=postgres",
        plain.dir.path().display(),
        plain.port
    );
    assert_eq!(tapped_ssl(&info(&socket, &[])).await, (false, true));
    // Errors are classified as on the usual path, without the password.
    let c = info(
        &format!(
            "host=127.0.0.1 port={} user=bob dbname=app password=wrong",
            plain.port
        ),
        &[],
    );
    match c.connect_tapped().await {
        Err(e) => {
            assert_eq!(e.kind(), ConnectErrorKind::Auth, "{e}");
            assert!(!e.to_string().contains("wrong"), "{e}");
        }
        Ok(_) => panic!("a wrong password connected"),
    }
    let c = info(
        &format!("host=127.0.0.1 port={} user=bob", free_port()),
        &[],
    );
    match c.connect_tapped().await {
        Err(e) => assert_eq!(e.kind(), ConnectErrorKind::Unreachable, "{e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}
