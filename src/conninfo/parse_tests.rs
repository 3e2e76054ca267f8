use super::*;

fn get<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn uri_with_everything() {
    let p = parse(
        "postgres://bob:s%40cret:x@db.example.com:6432/app%20db?sslmode=require&application_name=x",
    )
    .unwrap();
    assert_eq!(get(&p, "user"), Some("bob"));
    assert_eq!(get(&p, "password"), Some("s@cret:x"));
    assert_eq!(get(&p, "host"), Some("db.example.com"));
    assert_eq!(get(&p, "port"), Some("6432"));
    assert_eq!(get(&p, "dbname"), Some("app db"));
    assert_eq!(get(&p, "sslmode"), Some("require"));
    assert_eq!(get(&p, "application_name"), Some("x"));
}

#[test]
fn uri_minimal_forms() {
    assert!(parse("postgresql://").unwrap().is_empty());
    let p = parse("postgresql:///mydb").unwrap();
    assert_eq!(p, vec![("dbname".to_string(), "mydb".to_string())]);
    let p = parse("postgresql://alice@").unwrap();
    assert_eq!(get(&p, "user"), Some("alice"));
    assert_eq!(get(&p, "host"), None);
}

#[test]
fn uri_unix_socket_host() {
    let p = parse("postgresql://%2Ftmp%2Fsock/db").unwrap();
    assert_eq!(get(&p, "host"), Some("/tmp/sock"));
    assert_eq!(get(&p, "dbname"), Some("db"));
    let p = parse("postgresql:///db?host=/var/run/postgresql&port=5433").unwrap();
    assert_eq!(get(&p, "host"), Some("/var/run/postgresql"));
    assert_eq!(get(&p, "port"), Some("5433"));
}

#[test]
fn uri_ipv6_and_multi_host() {
    let p = parse("postgresql://[::1]:5433/db").unwrap();
    assert_eq!(get(&p, "host"), Some("::1"));
    assert_eq!(get(&p, "port"), Some("5433"));

    let p = parse("postgresql://h1:5432,[2001:db8::2],h3:7000/db").unwrap();
    assert_eq!(get(&p, "host"), Some("h1,2001:db8::2,h3"));
    assert_eq!(get(&p, "port"), Some("5432,,7000"));

    let p = parse("postgres://a,b/db").unwrap();
    assert_eq!(get(&p, "host"), Some("a,b"));
    assert_eq!(get(&p, "port"), None);
}

#[test]
fn uri_jdbc_ssl_true() {
    let p = parse("postgres://h/db?ssl=true").unwrap();
    assert_eq!(get(&p, "sslmode"), Some("require"));
}

#[test]
fn uri_errors_are_clear_and_hide_the_password() {
    let err = format!(
        "{:#}",
        parse("postgres://u:hunter2@h/db?bogus=1").unwrap_err()
    );
    assert!(
        err.contains("invalid URI query parameter: \"bogus\""),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let err = format!("{:#}", parse("postgres://u:hun%zzter@h/db").unwrap_err());
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("hun%zzter"), "{err}");

    // A password given as a query parameter is masked as well, and its parts
    // (a raw '&' splits it) are never quoted.
    for uri in [
        "postgres://u@h:5432/db?password=p%40ss&foo=bar",
        "postgres://u@h:5432/db?pass%77ord=p%40ss&foo=bar",
        "postgres://u@h/db?password=p%zzss",
        "postgres://u@h/db?password=p%40ss&rest",
    ] {
        let err = format!("{:#}", parse(uri).unwrap_err());
        assert!(err.contains("invalid URI"), "{err}");
        for secret in ["p%40ss", "p@ss", "p%zzss", "rest"] {
            assert!(!err.contains(secret), "{secret} in {err}");
        }
    }

    let err = format!("{:#}", parse("postgres://[::1/db").unwrap_err());
    assert!(err.contains("missing \"]\""), "{err}");

    let err = format!("{:#}", parse("postgres://h/db?sslmode").unwrap_err());
    assert!(err.contains("missing key/value separator"), "{err}");

    let err = format!("{:#}", parse("postgres://[::1]x/db").unwrap_err());
    assert!(err.contains("unexpected character"), "{err}");
}

#[test]
fn keyvalue_quoting() {
    let p = parse(r"host=h  port = 5433 dbname='my db' password='it\'s \\ ok' user=a\ b").unwrap();
    assert_eq!(get(&p, "host"), Some("h"));
    assert_eq!(get(&p, "port"), Some("5433"));
    assert_eq!(get(&p, "dbname"), Some("my db"));
    assert_eq!(get(&p, "password"), Some(r"it's \ ok"));
    assert_eq!(get(&p, "user"), Some("a b"));
    let p = parse("dbname=''").unwrap();
    assert_eq!(get(&p, "dbname"), Some(""));
}

#[test]
fn keyvalue_last_value_wins() {
    let p = parse("dbname=a host=h dbname=b").unwrap();
    assert_eq!(p[0], ("dbname".to_string(), "b".to_string()));
}

#[test]
fn keyvalue_errors() {
    let err = parse("host=h bogus=1").unwrap_err().to_string();
    assert_eq!(err, "invalid connection option \"bogus\"");
    let err = parse("host=h port").unwrap_err().to_string();
    assert!(err.contains("missing \"=\" after \"port\""), "{err}");
    let err = parse("password='abc").unwrap_err().to_string();
    assert!(err.contains("unterminated quoted string"), "{err}");
    assert!(!err.contains("abc"));
    // An unquoted password with a space: its second half is not quoted back.
    let err = parse("host=h password=my secret").unwrap_err().to_string();
    assert!(err.contains("after the password"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn bare_word_is_a_database_name() {
    let p = parse("mydb").unwrap();
    assert_eq!(p, vec![("dbname".to_string(), "mydb".to_string())]);
}

#[test]
fn quote_round_trips() {
    for v in ["plain", "with space", r"it's", r"back\slash", "", "é ü"] {
        let s = format!("dbname={}", quote(v));
        assert_eq!(get(&parse(&s).unwrap(), "dbname"), Some(v), "{s}");
    }
    assert_eq!(quote("plain"), "plain");
    assert_eq!(quote(""), "''");
}
