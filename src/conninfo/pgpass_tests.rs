use std::os::unix::fs::PermissionsExt;

use super::*;

fn want<'a>(host: &'a str, port: &'a str, dbname: &'a str, user: &'a str) -> Lookup<'a> {
    Lookup {
        host,
        port,
        dbname,
        user,
    }
}

const FILE: &str = "\
# comment line
db1.example:5432:app:bob:first
*:*:app:bob:second
*:5433:*:*:third
h\\:x:5432:*:alice:pa\\:ss\\\\word:ignored
\\*:*:*:carol:literal-star
localhost:5432:*:dave:socket
";

#[test]
fn first_match_wins_with_wildcards() {
    assert_eq!(
        find(FILE, &want("db1.example", "5432", "app", "bob")).as_deref(),
        Some("first")
    );
    assert_eq!(
        find(FILE, &want("other", "5432", "app", "bob")).as_deref(),
        Some("second")
    );
    assert_eq!(
        find(FILE, &want("other", "5433", "x", "y")).as_deref(),
        Some("third")
    );
    assert_eq!(find(FILE, &want("other", "5432", "x", "y")), None);
}

#[test]
fn escapes() {
    assert_eq!(
        find(FILE, &want("h:x", "5432", "any", "alice")).as_deref(),
        Some(r"pa:ss\word")
    );
    // "\*" is a literal star, not a wildcard.
    assert_eq!(find(FILE, &want("somehost", "5432", "d", "carol")), None);
    assert_eq!(
        find(FILE, &want("*", "5432", "d", "carol")).as_deref(),
        Some("literal-star")
    );
}

#[test]
fn localhost_matches_unix_socket() {
    assert_eq!(
        find(FILE, &want("/var/run/postgresql", "5432", "d", "dave")).as_deref(),
        Some("socket")
    );
    assert_eq!(find(FILE, &want("otherhost", "5432", "d", "dave")), None);
}

#[test]
fn crlf_and_short_lines() {
    let text = "short:line\r\nh:1:d:u:pw\r\n";
    assert_eq!(find(text, &want("h", "1", "d", "u")).as_deref(), Some("pw"));
}

#[test]
fn file_permissions_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgpass");
    std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
    let w = want("h", "5432", "d", "u");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(lookup(&path, &w).as_deref(), Some("secret"));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(lookup(&path, &w), None);

    assert_eq!(lookup(&dir.path().join("missing"), &w), None);
    assert_eq!(lookup(dir.path(), &w), None);
}
