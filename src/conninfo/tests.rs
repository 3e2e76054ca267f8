//! Resolution as a whole: precedence, defaults, password handling.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use super::tls::{sslmode, Check, Verify};
use super::*;

/// An environment made of the given pairs only; HOME points nowhere useful
/// unless given, so the tester's own ~/.pgpass never leaks in.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("HOME".into())
        .or_insert_with(|| "/nonexistent-home".into());
    move |k| map.get(k).cloned()
}

fn resolve(s: &str, pairs: &[(&str, &str)]) -> ConnInfo {
    ConnInfo::resolve_with(s, &env_of(pairs)).unwrap()
}

#[test]
fn explicit_beats_env_beats_defaults() {
    let env = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGAPPNAME", "envapp"),
    ];
    let c = resolve("host=explicit dbname=mydb", &env);
    assert_eq!(c.get("host"), Some("explicit"));
    assert_eq!(c.dbname(), "mydb");
    assert_eq!(c.get("port"), Some("6000"));
    assert_eq!(c.user(), "envuser");
    assert_eq!(c.get("application_name"), Some("envapp"));
    assert_eq!(c.host_port(), "explicit:6000");
}

#[test]
fn defaults() {
    let c = resolve("", &[]);
    let user = env::os_user(&|_| None).unwrap_or_else(|| "postgres".into());
    assert_eq!(c.user(), user);
    assert_eq!(c.dbname(), user, "dbname defaults to the user");
    assert_eq!(c.get("host"), Some(env::default_socket_dir()));
    assert_eq!(c.get("port"), Some("5432"));
    assert_eq!(c.get("application_name"), Some("pgcopydb"));
    assert_eq!(c.get("connect_timeout"), Some("10"));
    assert_eq!(c.get("password"), None);

    // dbname follows the resolved user, wherever it came from.
    let c = resolve("user=zoe", &[]);
    assert_eq!(c.dbname(), "zoe");
}

#[test]
fn empty_values_mean_default() {
    let c = resolve("host='' port=''", &[("PGPORT", "7777")]);
    assert_eq!(c.get("host"), Some(env::default_socket_dir()));
    assert_eq!(c.get("port"), Some("7777"));
}

#[test]
fn hostaddr_only_does_not_add_a_socket_host() {
    let c = resolve("hostaddr=127.0.0.1 port=5999", &[]);
    assert_eq!(c.get("host"), None);
    assert_eq!(c.host_port(), "127.0.0.1:5999");
}

#[test]
fn multi_host_display() {
    let c = resolve("postgres://a:1,[::1]:2/db", &[]);
    assert_eq!(c.host_port(), "a:1,[::1]:2");
    assert_eq!(
        c.child_dbname_arg(),
        "host=a,::1 port=1,2 dbname=db user=".to_string()
            + c.user()
            + " application_name=pgcopydb connect_timeout=10"
    );
}

#[test]
fn password_never_in_display_or_child_args() {
    for s in [
        "postgres://bob:Sup3rS3cret@h/db",
        "host=h user=bob password='Sup3rS3cret'",
    ] {
        let c = resolve(s, &[]);
        assert_eq!(c.get("password"), Some("Sup3rS3cret"));
        for shown in [c.safe_display(), c.child_dbname_arg(), format!("{c:?}")] {
            assert!(!shown.contains("Sup3rS3cret"), "{shown}");
            assert!(!shown.contains("password"), "{shown}");
        }
        assert_eq!(c.child_password(), Some("Sup3rS3cret"));
    }
    let c = resolve("host=h", &[("PGPASSWORD", "fromenv")]);
    assert_eq!(c.get("password"), Some("fromenv"));
    assert!(!c.child_dbname_arg().contains("fromenv"));
}

#[test]
fn child_arg_keeps_libpq_only_keys() {
    let c = resolve(
        "host=h sslmode=verify-ca sslrootcert='/etc/my certs/root.crt' sslcert=/c sslkey=/k",
        &[],
    );
    let arg = c.child_dbname_arg();
    assert!(arg.contains("sslmode=verify-ca"), "{arg}");
    assert!(
        arg.contains(r"sslrootcert='/etc/my certs/root.crt'"),
        "{arg}"
    );
    assert!(arg.contains("sslcert=/c sslkey=/k"), "{arg}");
    // And the child string means the same thing when parsed again.
    let again = resolve(&arg, &[]);
    assert_eq!(again.get("sslrootcert"), Some("/etc/my certs/root.crt"));
    assert!(c.child_password().is_none());
}

#[test]
fn password_from_pgpass() {
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, "h:5432:db1:bob:one\nh:5432:*:bob:any\n").unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home_s = home.path().to_str().unwrap();

    let c = resolve("host=h user=bob dbname=db1", &[("HOME", home_s)]);
    assert_eq!(c.get("password"), Some("one"));
    assert_eq!(c.child_password(), Some("one"));
    // Another database gets its own entry.
    assert_eq!(c.with_dbname("db2").get("password"), Some("any"));
    assert_eq!(c.with_dbname("db2").dbname(), "db2");

    // An explicit password wins over the file, and survives with_dbname.
    let c = resolve(
        "host=h user=bob dbname=db1 password=mine",
        &[("HOME", home_s)],
    );
    assert_eq!(c.with_dbname("db2").get("password"), Some("mine"));

    // PGPASSFILE points elsewhere.
    let other = home.path().join("other");
    std::fs::write(&other, "*:*:*:*:elsewhere\n").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = resolve(
        "host=h user=bob",
        &[("HOME", home_s), ("PGPASSFILE", other.to_str().unwrap())],
    );
    assert_eq!(c.get("password"), Some("elsewhere"));

    // World-readable: ignored.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = resolve("host=h user=bob dbname=db1", &[("HOME", home_s)]);
    assert_eq!(c.get("password"), None);
}

#[test]
fn sslmode_mapping() {
    let mode = |s: &str| sslmode(&resolve(s, &[])).unwrap();
    assert_eq!(mode("host=h"), Some(Verify::Prefer(Check::Nothing)));
    assert_eq!(mode("sslmode=disable"), None);
    assert_eq!(mode("sslmode=allow"), Some(Verify::Prefer(Check::Nothing)));
    assert_eq!(
        mode("sslmode=require"),
        Some(Verify::Require(Check::Nothing))
    );
    assert_eq!(
        mode("sslmode=verify-ca"),
        Some(Verify::Require(Check::Chain))
    );
    assert_eq!(
        mode("sslmode=verify-full"),
        Some(Verify::Require(Check::ChainAndName))
    );
    assert_eq!(
        mode("sslrootcert=system"),
        Some(Verify::Require(Check::ChainAndName))
    );
    assert_eq!(mode("requiressl=1"), Some(Verify::Require(Check::Nothing)));

    // An existing root certificate turns require into verify-ca, as in libpq.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.crt");
    std::fs::write(&root, "not checked here").unwrap();
    let s = format!("sslmode=require sslrootcert={}", root.display());
    assert_eq!(mode(&s), Some(Verify::Require(Check::Chain)));
}

#[test]
fn verify_modes_need_a_root_certificate() {
    let c = resolve("host=h sslmode=verify-full", &[]);
    let err = format!("{:#}", c.tls().err().unwrap());
    assert!(err.contains("root certificate file"), "{err}");
    assert!(resolve("host=h sslmode=require", &[]).tls().is_ok());
}

#[test]
fn invalid_strings_give_clear_errors() {
    let err = |s: &str| format!("{:#}", ConnInfo::resolve_with(s, &env_of(&[])).unwrap_err());
    assert_eq!(
        err("host=h sslmode=sometimes"),
        "invalid sslmode value: \"sometimes\""
    );
    assert_eq!(err("host=h port=70000"), "invalid port number: \"70000\"");
    assert_eq!(
        err("host=a,b,c port=1,2"),
        "could not match 2 port numbers to 3 hosts"
    );
    assert!(err("connect_timeout=soon").contains("\"connect_timeout\""));
    assert!(err("hostaddr=not-an-ip").contains("could not parse network address"));
    assert!(err("target_session_attrs=primary").contains("not supported"));
    assert!(err("requirepeer=postgres").contains("not supported"));
    assert_eq!(err("hots=h"), "invalid connection option \"hots\"");
    let e = err("postgres://u:pw@h:notaport/db");
    assert!(e.contains("invalid port number"), "{e}");
    assert!(!e.contains(":pw@"), "{e}");
}

/// The name our sessions carry, as libpq picks it: `application_name`, else
/// `fallback_application_name`, else the default `pgcopydb`. A resume looks
/// its leftover sessions up by it.
#[test]
fn the_application_name_is_the_one_sessions_carry() {
    assert_eq!(resolve("", &[]).application_name(), Some("pgcopydb"));
    let fallback = resolve("fallback_application_name=mine", &[]);
    assert_eq!(fallback.application_name(), Some("mine"));
    let both = resolve("application_name=app fallback_application_name=mine", &[]);
    assert_eq!(both.application_name(), Some("app"));
}
