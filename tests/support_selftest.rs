//! Tests of the test support itself: the throwaway clusters, and the verifier
//! against a pg_dump | pg_restore copy of the coverage fixture (no differences)
//! and against deliberate corruptions (each one found).

mod support;

use support::Cluster;

#[test]
fn cluster_basics() {
    let c = Cluster::start();
    assert_eq!(
        c.major(),
        c.psql("postgres", "SHOW server_version_num")
            .parse::<u32>()
            .unwrap()
            / 10000
    );
    assert_eq!(c.psql("postgres", "SELECT 1; SELECT 2"), "1\n2");
    assert!(c
        .try_psql("postgres", "SELECT * FROM no_such_table")
        .unwrap_err()
        .contains("no_such_table"));
    c.create_db("with space");
    assert_eq!(
        c.psql("with space", "SELECT current_database()"),
        "with space"
    );

    // TCP needs the password (scram-sha-256); the socket is trust.
    let with_pw = support::pg_client(&c.bindir, "psql")
        .args(["-X", "-At", "-w", "-c", "SELECT current_user"])
        .arg(c.uri("postgres"))
        .output()
        .unwrap();
    assert!(
        with_pw.status.success(),
        "{}",
        String::from_utf8_lossy(&with_pw.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&with_pw.stdout).trim(), "postgres");
    let without_pw = support::pg_client(&c.bindir, "psql")
        .args(["-X", "-At", "-w", "-c", "SELECT 1"])
        .arg(c.uri_without_password("postgres"))
        .output()
        .unwrap();
    assert!(!without_pw.status.success());
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'postgres'"
        ),
        "t"
    );

    // Rows with any text survive query().
    let rows = c.query(
        "postgres",
        "SELECT E'a\\nb\\tc', NULL, '' UNION ALL SELECT 'x', 'y', 'z'",
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("a\nb\tc".to_string()), None, Some(String::new())],
            vec![Some("x".into()), Some("y".into()), Some("z".into())]
        ]
    );

    // ICU collations can be created.
    c.psql(
        "postgres",
        "CREATE COLLATION de_icu (provider = icu, locale = 'de-DE')",
    );

    c.stop();
    assert!(!c.is_running());
    assert!(c.try_psql("postgres", "SELECT 1").is_err());
    c.restart();
    assert_eq!(c.psql("with space", "SELECT 42"), "42");
    assert!(std::fs::read_to_string(c.log_path())
        .unwrap()
        .contains("ready to accept connections"));
}
