//! The replication connection (`stream::walsender`) and the CDC preflight
//! checks (`stream::preflight`) against real PostgreSQL clusters with
//! `wal_level = logical`.

// A test may panic on an unexpected answer (clippy.toml forbids it in src/).
#![allow(clippy::disallowed_methods)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{running_as_root, Cluster};
use pgcopydb::conninfo::ConnInfo;
use pgcopydb::error::ExitCode;
use pgcopydb::stream::decode::Plugin;
use pgcopydb::stream::lsn::Lsn;
use pgcopydb::stream::preflight::{self, check_plugin_available, Request};
use pgcopydb::stream::walsender::{
    ReplicationMessage, ReplicationStream, WalSender, WalSenderErrorKind, XLogData,
};

/// Only guards against a hang: a test that waits this long has failed.
const HANG_GUARD: Duration = crate::support::follow::HANG_GUARD;

fn info(s: &str) -> ConnInfo {
    ConnInfo::resolve(s).expect("connection string")
}

async fn client(c: &Cluster) -> tokio_postgres::Client {
    info(&c.uri("postgres")).connect().await.expect("connect")
}

/// Reads the stream until `done` holds for the XLogData received so far.
async fn receive_until(
    stream: &mut ReplicationStream,
    done: impl Fn(&[XLogData]) -> bool,
) -> Vec<XLogData> {
    let reading = async {
        let mut got = Vec::new();
        while !done(&got) {
            match stream.next().await.expect("replication stream") {
                Some(ReplicationMessage::XLogData(x)) => got.push(x),
                Some(ReplicationMessage::Keepalive { .. }) => {}
                None => panic!("the server ended the stream"),
            }
        }
        got
    };
    tokio::time::timeout(HANG_GUARD, reading)
        .await
        .expect("the changes never arrived")
}

fn contains(data: &[u8], needle: &str) -> bool {
    data.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The slot's confirmed flush position, from the catalog.
fn confirmed_flush(c: &Cluster, slot: &str) -> Lsn {
    let text = c.psql(
        "postgres",
        &format!("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"),
    );
    text.parse().expect("confirmed_flush_lsn")
}

/// Polls the catalog until the slot has confirmed `lsn`.
async fn until_confirmed(c: &Cluster, slot: &str, lsn: Lsn) {
    let polling = async {
        while confirmed_flush(c, slot) < lsn {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, polling)
        .await
        .expect("confirmed_flush_lsn never reached the reported position");
}

/// The rows of `t` a transaction sees under `snapshot`.
async fn ids_under_snapshot(c: &Cluster, snapshot: &str) -> Vec<i32> {
    let client = client(c).await;
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{snapshot}'"
        ))
        .await
        .expect("import the exported snapshot");
    let rows = client
        .query("SELECT id FROM t ORDER BY id", &[])
        .await
        .expect("read under the snapshot");
    rows.iter().map(|r| r.try_get(0).expect("id")).collect()
}

/// The whole cycle on `c` with `plugin`: a slot whose exported snapshot,
/// held while rows are committed, sees exactly the rows committed before
/// it; the rows committed after stream; a reported flush position reaches
/// the catalog; the stream ends cleanly and the slot is dropped.
async fn snapshot_then_stream(c: &Cluster, conninfo: &str, plugin: Plugin) {
    let slot = format!("s_{}", plugin.name());
    c.psql(
        "postgres",
        "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text);
         TRUNCATE t;
         INSERT INTO t SELECT i, 'row-' || i FROM generate_series(1, 3) i;",
    );
    if plugin == Plugin::Pgoutput {
        c.psql("postgres", "CREATE PUBLICATION pub FOR TABLE t");
    }
    let mut sender = WalSender::connect(&info(conninfo)).await.expect("connect");
    let system = sender.identify_system().await.expect("IDENTIFY_SYSTEM");
    assert_eq!(system.dbname.as_deref(), Some("postgres"));
    assert!(system.xlogpos.is_valid());
    assert_eq!(sender.server_version_num() / 10000, c.major());

    let held = sender
        .create_slot_holding_snapshot(&slot, plugin)
        .await
        .expect("create the slot");
    assert_eq!(held.slot().slot_name, slot);
    assert_eq!(held.slot().plugin, plugin);
    assert!(held.slot().consistent_point >= system.xlogpos);
    c.psql(
        "postgres",
        "INSERT INTO t VALUES (4, 'row-4'); INSERT INTO t VALUES (5, 'row-5');",
    );
    // Read twice: the snapshot stays valid while the connection is held.
    for _ in 0..2 {
        assert_eq!(ids_under_snapshot(c, held.snapshot_name()).await, [1, 2, 3]);
    }

    let (sender, created) = held.release();
    let options: Vec<(String, String)> = match plugin {
        Plugin::Pgoutput => vec![
            ("proto_version".into(), "1".into()),
            ("publication_names".into(), "pub".into()),
        ],
        _ => Vec::new(),
    };
    let mut stream = sender
        .start_replication(&slot, created.consistent_point, &options)
        .await
        .expect("START_REPLICATION");
    let is_insert = |x: &XLogData| match plugin {
        Plugin::Pgoutput => x.data.first() == Some(&b'I'),
        _ => contains(&x.data, ": INSERT: "),
    };
    let is_commit = |x: &XLogData| match plugin {
        Plugin::Pgoutput => x.data.first() == Some(&b'C'),
        _ => x.data.starts_with(b"COMMIT"),
    };
    let got = receive_until(&mut stream, |got| {
        got.iter().filter(|x| is_commit(x)).count() == 2
    })
    .await;
    let inserts: Vec<&XLogData> = got.iter().filter(|x| is_insert(x)).collect();
    assert_eq!(
        inserts.len(),
        2,
        "exactly the rows committed after the snapshot"
    );
    assert!(contains(&inserts[0].data, "row-4"));
    assert!(contains(&inserts[1].data, "row-5"));
    for early in ["row-1", "row-2", "row-3"] {
        assert!(
            !got.iter().any(|x| contains(&x.data, early)),
            "{early} streamed"
        );
    }
    // (pgoutput sends its Relation messages at 0/0.)
    assert!(got
        .iter()
        .all(|x| !x.wal_start.is_valid() || x.wal_start >= created.consistent_point));

    // Tell the server the first transaction is durable: the slot follows.
    let first_commit = got.iter().find(|x| is_commit(x)).expect("a commit");
    let lsn = first_commit.wal_start;
    assert!(confirmed_flush(c, &slot) < lsn);
    stream.report(lsn, lsn, Lsn::INVALID);
    assert_eq!(stream.reported(), (lsn, lsn, Lsn::INVALID));
    stream.flush_status().await.expect("status update");
    until_confirmed(c, &slot, lsn).await;

    let mut sender = stream.finish().await.expect("clean end of the stream");
    sender.drop_slot(&slot, true).await.expect("drop the slot");
    let left = c.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"),
    );
    assert_eq!(left, "0");
    sender.close().await.expect("terminate");
    if plugin == Plugin::Pgoutput {
        c.psql("postgres", "DROP PUBLICATION pub");
    }
}

#[tokio::test]
async fn exported_snapshot_and_stream_with_pgoutput_and_test_decoding() {
    let c = Cluster::start();
    // The superuser over TCP: SCRAM-SHA-256.
    snapshot_then_stream(&c, &c.uri("postgres"), Plugin::Pgoutput).await;
    snapshot_then_stream(&c, &c.socket_conninfo("postgres"), Plugin::TestDecoding).await;
}

#[tokio::test]
async fn postgres_13_source_uses_its_own_slot_syntax() {
    let Some(bin) = std::env::var_os("PGCOPYDB_TEST_PG13_BIN").filter(|v| !v.is_empty()) else {
        eprintln!("skipped: PGCOPYDB_TEST_PG13_BIN is not set");
        return;
    };
    let c = Cluster::start_with(Path::new(&bin), &[]);
    assert_eq!(c.major(), 13);
    snapshot_then_stream(&c, &c.uri("postgres"), Plugin::TestDecoding).await;
    snapshot_then_stream(&c, &c.uri("postgres"), Plugin::Pgoutput).await;
    // The fetched PostgreSQL 13 has test_decoding but no wal2json.
    let libs = ["../lib/wal2json.so", "../lib/postgresql/wal2json.so"];
    if !libs.iter().any(|l| c.bindir.join(l).exists()) {
        let e = refusal(&c.uri("postgres"), &request("s", Plugin::Wal2json)).await;
        assert!(e.contains("no logical decoding plugin \"wal2json\""), "{e}");
    }
}

#[tokio::test]
async fn periodic_status_updates_confirm_without_traffic() {
    let c = Cluster::start();
    c.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let mut sender = WalSender::connect(&info(&c.uri("postgres")))
        .await
        .expect("connect");
    let slot = sender
        .create_slot("periodic", Plugin::TestDecoding, false)
        .await
        .expect("create the slot");
    assert_eq!(slot.snapshot_name, None);
    c.psql("postgres", "INSERT INTO t VALUES (1, 'one')");
    let mut stream = sender
        .start_replication("periodic", slot.consistent_point, &[])
        .await
        .expect("START_REPLICATION")
        .with_status_interval(Duration::from_millis(200));
    let got = receive_until(&mut stream, |got| {
        got.iter().any(|x| x.data.starts_with(b"COMMIT"))
    })
    .await;
    let lsn = got.last().expect("the commit").wal_start;
    stream.report(lsn, lsn, lsn);
    // No flush_status: the interval alone must carry the position, while
    // the stream is read (next() is cancel-safe, so it can be dropped).
    let read_on = async {
        loop {
            match stream.next().await {
                Ok(Some(ReplicationMessage::Keepalive { .. })) => {}
                other => panic!("nothing else was committed: {other:?}"),
            }
        }
    };
    tokio::select! {
        () = read_on => {}
        () = until_confirmed(&c, "periodic", lsn) => {}
    }
    stream.finish().await.expect("clean end");
}

#[tokio::test]
async fn a_keepalive_asking_for_a_reply_gets_the_reported_positions() {
    // The server asks for a reply after half of wal_sender_timeout of silence.
    let c = Cluster::start_with(&support::pgbin(), &[("wal_sender_timeout", "2s")]);
    c.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let mut sender = WalSender::connect(&info(&c.uri("postgres")))
        .await
        .expect("connect");
    let slot = sender
        .create_slot("asked", Plugin::TestDecoding, false)
        .await
        .expect("create the slot");
    c.psql("postgres", "INSERT INTO t VALUES (1, 'one')");
    // Periodic updates out of the way: only the reply can carry the position.
    let mut stream = sender
        .start_replication("asked", slot.consistent_point, &[])
        .await
        .expect("START_REPLICATION")
        .with_status_interval(Duration::from_secs(3600));
    let got = receive_until(&mut stream, |got| {
        got.iter().any(|x| x.data.starts_with(b"COMMIT"))
    })
    .await;
    let lsn = got.last().expect("the commit").wal_start;
    stream.report(lsn, lsn, lsn);
    let asked = async {
        loop {
            match stream.next().await.expect("stream") {
                Some(ReplicationMessage::Keepalive {
                    reply_requested: true,
                    ..
                }) => return,
                Some(_) => {}
                None => panic!("the server ended the stream"),
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, asked)
        .await
        .expect("the server never asked for a reply");
    until_confirmed(&c, "asked", lsn).await;
    stream.finish().await.expect("clean end");
}

#[tokio::test]
async fn a_held_snapshot_reports_its_loss() {
    let c = Cluster::start();
    let sender = WalSender::connect(&info(&c.uri("postgres")))
        .await
        .expect("connect");
    let pid = sender.backend_pid();
    let mut held = sender
        .create_slot_holding_snapshot("held", Plugin::TestDecoding)
        .await
        .expect("create the slot");
    c.psql("postgres", &format!("SELECT pg_terminate_backend({pid})"));
    let e = tokio::time::timeout(HANG_GUARD, held.lost())
        .await
        .expect("the loss was never noticed");
    assert_eq!(e.sqlstate(), Some("57P01"), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[tokio::test]
async fn a_large_change_arrives_whole() {
    let c = Cluster::start();
    c.psql("postgres", "CREATE TABLE big (id int PRIMARY KEY, v text)");
    let mut sender = WalSender::connect(&info(&c.uri("postgres")))
        .await
        .expect("connect");
    let slot = sender
        .create_slot("large", Plugin::TestDecoding, false)
        .await
        .expect("create the slot");
    const SIZE: usize = 24 * 1024 * 1024;
    c.psql(
        "postgres",
        &format!(
            "INSERT INTO big SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, {}) i",
            SIZE / 32
        ),
    );
    let mut stream = sender
        .start_replication("large", slot.consistent_point, &[])
        .await
        .expect("START_REPLICATION");
    let got = receive_until(&mut stream, |got| {
        got.iter().any(|x| x.data.starts_with(b"COMMIT"))
    })
    .await;
    let insert = got
        .iter()
        .find(|x| contains(&x.data[..x.data.len().min(100)], "INSERT"))
        .expect("the insert");
    assert!(insert.data.len() > SIZE, "{} bytes", insert.data.len());
    assert!(insert.data.ends_with(b"'"));
    stream.finish().await.expect("clean end");
}

/// pg_hba.conf rules for the password tests, ahead of initdb's.
fn prepend_hba(c: &Cluster, rules: &str) {
    let path = c.datadir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&path).expect("read pg_hba.conf");
    std::fs::write(&path, format!("{rules}\n{old}")).expect("write pg_hba.conf");
}

#[tokio::test]
async fn password_authentication_scram_md5_and_cleartext() {
    let c = Cluster::start();
    prepend_hba(
        &c,
        "host all md5_user 127.0.0.1/32 md5\nhost all clear_user 127.0.0.1/32 password",
    );
    let pw = "Rep-Secret-7731";
    c.psql(
        "postgres",
        &format!(
            "CREATE ROLE scram_user LOGIN REPLICATION PASSWORD '{pw}';
             SET password_encryption = 'md5';
             CREATE ROLE md5_user LOGIN REPLICATION PASSWORD '{pw}';
             CREATE ROLE clear_user LOGIN REPLICATION PASSWORD '{pw}';"
        ),
    );
    c.restart();
    for user in ["scram_user", "md5_user", "clear_user"] {
        let s = format!("postgresql://{user}:{pw}@127.0.0.1:{}/postgres", c.port);
        let mut sender = WalSender::connect(&info(&s))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        let system = sender.identify_system().await.expect("IDENTIFY_SYSTEM");
        assert_eq!(system.dbname.as_deref(), Some("postgres"));
        let who = sender
            .simple_query("SELECT current_user")
            .await
            .expect("SQL");
        assert_eq!(who.rows, [[Some(user.to_string())]]);
    }
    for user in ["scram_user", "md5_user", "clear_user"] {
        let wrong = "Not-The-Secret-99";
        let s = format!("postgresql://{user}:{wrong}@127.0.0.1:{}/postgres", c.port);
        let Err(e) = WalSender::connect(&info(&s)).await else {
            panic!("{user} connected with a wrong password");
        };
        assert_eq!(e.kind(), WalSenderErrorKind::Auth, "{e}");
        assert_eq!(e.sqlstate(), Some("28P01"), "{e}");
        let text = e.to_string();
        assert!(text.contains(user) && !text.contains('\n'), "{text}");
        assert!(!text.contains(wrong) && !text.contains(pw), "{text}");
    }
    // The first host is down: the next one is tried, as with libpq.
    let s = format!(
        "host=127.0.0.1,127.0.0.1 port=1,{} user=scram_user password={pw} dbname=postgres",
        c.port
    );
    WalSender::connect(&info(&s))
        .await
        .expect("the second host");
    // Channel binding cannot be honoured on this connection: refused, not ignored.
    let s = format!("{} channel_binding=require", s.replace("port=1,", "port="));
    let e = connect_error(
        WalSender::connect(&info(&s.replace("127.0.0.1,127.0.0.1", "127.0.0.1"))).await,
    );
    assert!(
        e.contains("channel_binding=require is not supported"),
        "{e}"
    );
    // No password at all: one line saying where to put one.
    let s = format!(
        "host=127.0.0.1 port={} user=scram_user dbname=postgres passfile=/nonexistent",
        c.port
    );
    let e = connect_error(WalSender::connect(&info(&s)).await);
    assert!(
        e.contains("requested a password") && e.contains("PGPASSWORD"),
        "{e}"
    );
}

/// The one-line error of a connection that must fail.
fn connect_error(r: Result<WalSender, pgcopydb::stream::walsender::WalSenderError>) -> String {
    match r {
        Ok(_) => panic!("connected"),
        Err(e) => e.to_string(),
    }
}

/// A self-signed certificate in the data directory, ssl on, restarted.
fn enable_ssl(c: &Cluster) -> bool {
    if Command::new("openssl").arg("version").output().is_err() {
        return false;
    }
    let dir: PathBuf = c.datadir();
    let mut cmd = if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", "openssl"]);
        cmd
    } else {
        Command::new("openssl")
    };
    let out = cmd
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.crt"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.psql("postgres", "ALTER SYSTEM SET ssl = on");
    c.restart();
    true
}

#[tokio::test]
async fn tls_per_sslmode() {
    let c = Cluster::start();
    // Without TLS on the server: require refuses in one line, prefer falls back.
    let base = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres password={}",
        c.port,
        Cluster::PASSWORD
    );
    let e = connect_error(WalSender::connect(&info(&format!("{base} sslmode=require"))).await);
    assert!(
        e.contains("does not support SSL") && !e.contains('\n'),
        "{e}"
    );
    assert!(!e.contains(Cluster::PASSWORD));
    WalSender::connect(&info(&format!("{base} sslmode=prefer")))
        .await
        .expect("prefer without TLS on the server");

    if !enable_ssl(&c) {
        eprintln!("skipped the TLS part: openssl is not installed");
        return;
    }
    for mode in ["require", "prefer"] {
        let mut sender = WalSender::connect(&info(&format!("{base} sslmode={mode}")))
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        let pid = sender.backend_pid();
        sender
            .identify_system()
            .await
            .expect("IDENTIFY_SYSTEM over TLS");
        let ssl = c.psql(
            "postgres",
            &format!("SELECT ssl FROM pg_stat_ssl WHERE pid = {pid}"),
        );
        assert_eq!(ssl, "t", "sslmode={mode}");
    }
    // A certificate that cannot be verified: one line, no password.
    let ca = c.datadir().join("no-such-root.crt");
    let e = connect_error(
        WalSender::connect(&info(&format!(
            "{base} sslmode=verify-ca sslrootcert={}",
            ca.display()
        )))
        .await,
    );
    assert!(
        e.contains("root certificate") && !e.contains(Cluster::PASSWORD),
        "{e}"
    );
}

fn request(slot: &str, plugin: Plugin) -> Request<'_> {
    Request {
        slot_name: slot,
        plugin,
        resuming: false,
        startpos: None,
        endpos: None,
    }
}

async fn refusal(source: &str, request: &Request<'_>) -> String {
    match preflight::preflight(&info(source), request).await {
        Ok(p) => panic!("preflight passed: {p:?}"),
        Err(f) => {
            assert!(!f.message.contains('\n'), "{}", f.message);
            assert!(!f.message.contains(Cluster::PASSWORD));
            f.message
        }
    }
}

#[tokio::test]
async fn preflight_passes_and_refuses_in_one_line() {
    let c = Cluster::start();
    let src = c.uri("postgres");
    for plugin in [Plugin::Pgoutput, Plugin::TestDecoding, Plugin::Wal2json] {
        let p = preflight::preflight(&info(&src), &request("fresh", plugin))
            .await
            .unwrap_or_else(|f| panic!("{}: {}", plugin.name(), f.message));
        assert_eq!(p.existing_slot, None);
        assert!(p.start.is_valid());
    }
    // The plugin check leaves no slot behind.
    assert_eq!(
        c.psql("postgres", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );

    let client = client(&c).await;
    let e = check_plugin_available(&client, "no_such_plugin")
        .await
        .expect_err("a missing plugin");
    assert!(
        e.message
            .contains("no logical decoding plugin \"no_such_plugin\""),
        "{}",
        e.message
    );

    // A slot of that name: refused, unless resuming.
    c.psql(
        "postgres",
        "SELECT pg_create_logical_replication_slot('taken', 'test_decoding')",
    );
    let e = refusal(&src, &request("taken", Plugin::TestDecoding)).await;
    assert!(
        e.contains("\"taken\" already exists")
            && e.contains("test_decoding")
            && e.contains("inactive")
            && e.contains("--resume"),
        "{e}"
    );
    // The server's own refusal, had the check been skipped: SQLSTATE and one line.
    let mut sender = WalSender::connect(&info(&src)).await.expect("connect");
    let Err(e) = sender
        .create_slot("taken", Plugin::TestDecoding, false)
        .await
    else {
        panic!("a second slot \"taken\" was created");
    };
    assert_eq!(e.sqlstate(), Some("42710"), "{e}");
    assert!(e.to_string().contains("\"taken\" already exists"), "{e}");
    sender
        .identify_system()
        .await
        .expect("the connection survives the error");
    drop(sender);
    let resuming = Request {
        resuming: true,
        ..request("taken", Plugin::TestDecoding)
    };
    let p = preflight::preflight(&info(&src), &resuming)
        .await
        .unwrap_or_else(|f| panic!("{}", f.message));
    let slot = p.existing_slot.expect("the slot to resume");
    assert_eq!(slot.plugin, "test_decoding");
    assert_eq!(Some(p.start), slot.confirmed_flush);
    let e = refusal(
        &src,
        &Request {
            plugin: Plugin::Pgoutput,
            ..resuming.clone()
        },
    )
    .await;
    assert!(
        e.contains("uses plugin test_decoding") && e.contains("--plugin test_decoding"),
        "{e}"
    );

    // An endpos behind the start.
    let behind = Request {
        endpos: Some(Lsn(1)),
        ..resuming.clone()
    };
    match preflight::preflight(&info(&src), &behind).await {
        Err(f) => {
            assert_eq!(f.exit_code(), ExitCode::BadArgs);
            assert!(
                f.message
                    .contains("--endpos 0/1 is behind the start position"),
                "{}",
                f.message
            );
        }
        Ok(p) => panic!("endpos behind start passed: {p:?}"),
    }

    // A role without REPLICATION.
    c.psql("postgres", "CREATE ROLE plain_user LOGIN");
    let as_plain = format!(
        "host={} port={} user=plain_user dbname=postgres",
        c.socket_dir().display(),
        c.port
    );
    let e = refusal(&as_plain, &request("fresh", Plugin::Pgoutput)).await;
    assert!(
        e.contains("\"plain_user\" lacks the REPLICATION attribute")
            && e.contains("ALTER ROLE plain_user REPLICATION"),
        "{e}"
    );
    // ... which the server confirms on the replication connection itself.
    let Err(e) = WalSender::connect(&info(&as_plain)).await else {
        panic!("plain_user opened a replication connection");
    };
    assert_eq!(e.sqlstate(), Some("42501"), "{e}");
}

#[tokio::test]
async fn preflight_refuses_without_free_slots_or_senders() {
    let c = Cluster::start_with(
        &support::pgbin(),
        &[("max_replication_slots", "1"), ("max_wal_senders", "1")],
    );
    let src = c.uri("postgres");
    c.psql(
        "postgres",
        "SELECT pg_create_logical_replication_slot('other', 'test_decoding')",
    );
    let e = refusal(&src, &request("mine", Plugin::TestDecoding)).await;
    assert!(
        e.contains("no free replication slot") && e.contains("max_replication_slots = 1"),
        "{e}"
    );
    c.psql("postgres", "SELECT pg_drop_replication_slot('other')");

    let held = WalSender::connect(&info(&src))
        .await
        .expect("the one WAL sender");
    let e = refusal(&src, &request("mine", Plugin::TestDecoding)).await;
    assert!(
        e.contains("no free WAL sender") && e.contains("max_wal_senders = 1"),
        "{e}"
    );
    drop(held);
}

#[tokio::test]
async fn preflight_refuses_wal_level_replica() {
    let c = Cluster::start_with(&support::pgbin(), &[("wal_level", "replica")]);
    let e = refusal(&c.uri("postgres"), &request("s", Plugin::Pgoutput)).await;
    assert!(
        e.contains("wal_level = replica")
            && e.contains("wal_level = logical")
            && e.contains("restart"),
        "{e}"
    );
}

#[tokio::test]
async fn preflight_refuses_a_slot_the_source_invalidated() {
    let c = Cluster::start_with(
        &support::pgbin(),
        &[
            ("max_slot_wal_keep_size", "1MB"),
            ("max_wal_size", "32MB"),
            ("min_wal_size", "32MB"),
        ],
    );
    c.psql(
        "postgres",
        "SELECT pg_create_logical_replication_slot('old', 'test_decoding');
         CREATE TABLE filler (v text);",
    );
    // Push WAL past the slot's allowance, one segment at a time, until a
    // checkpoint invalidates it.
    let polling = async {
        while c.psql(
            "postgres",
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'old'",
        ) != "lost"
        {
            c.psql(
                "postgres",
                "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 2000);
                 SELECT pg_switch_wal(); CHECKPOINT;",
            );
        }
    };
    tokio::time::timeout(HANG_GUARD, polling)
        .await
        .expect("the slot was never invalidated");
    let resuming = Request {
        resuming: true,
        ..request("old", Plugin::TestDecoding)
    };
    let e = refusal(&c.uri("postgres"), &resuming).await;
    assert!(
        e.contains("invalidated") && e.contains("wal_status = lost"),
        "{e}"
    );
}

/// A figure, not a check: how fast changes arrive (server-side decoding
/// included). `cargo nextest run -E
/// 'test(/^stream_walsender::/)' --run-ignored only`
#[tokio::test]
#[ignore]
async fn receive_rate() {
    const TRANSACTIONS: usize = 50_000;
    let c = Cluster::start();
    c.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t",
    );
    let mut sender = WalSender::connect(&info(&c.uri("postgres")))
        .await
        .expect("connect");
    let slot = sender
        .create_slot("rate", Plugin::Pgoutput, false)
        .await
        .expect("create the slot");
    c.psql(
        "postgres",
        &format!(
            "DO $$ BEGIN FOR i IN 1..{TRANSACTIONS} LOOP \
               INSERT INTO t VALUES (i, md5(i::text)); COMMIT; END LOOP; END $$"
        ),
    );
    let options = vec![
        ("proto_version".to_string(), "1".to_string()),
        ("publication_names".to_string(), "pub".to_string()),
    ];
    let started = std::time::Instant::now();
    let mut stream = sender
        .start_replication("rate", slot.consistent_point, &options)
        .await
        .expect("START_REPLICATION");
    let (mut messages, mut bytes, mut commits) = (0usize, 0usize, 0usize);
    while commits < TRANSACTIONS {
        match stream.next().await.expect("stream") {
            Some(ReplicationMessage::XLogData(x)) => {
                messages += 1;
                bytes += x.data.len();
                if x.data.first() == Some(&b'C') {
                    commits += 1;
                    stream.report(x.wal_start, x.wal_start, x.wal_start);
                }
            }
            Some(_) => {}
            None => panic!("the server ended the stream"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "received {commits} transactions ({messages} messages, {bytes} bytes) in {secs:.2} s: \
         {:.0} transactions/s, {:.0} messages/s",
        commits as f64 / secs,
        messages as f64 / secs
    );
    stream.finish().await.expect("clean end");
}
