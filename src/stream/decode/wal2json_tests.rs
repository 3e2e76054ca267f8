use super::*;
use crate::stream::decode::tables::{TableColumn, TableShape};

fn col(name: &str, type_oid: u32, is_key: bool) -> TableColumn {
    TableColumn {
        name: name.into(),
        type_oid,
        type_modifier: -1,
        is_key,
        generated: false,
    }
}

fn tables() -> Arc<SourceTables> {
    Arc::new(SourceTables::new(vec![
        TableShape {
            oid: 100,
            schema: "public".into(),
            name: "pk".into(),
            replica_identity: ReplicaIdentity::Default,
            columns: vec![
                col("id", 23, true),
                col("n", 1700, false),
                col("b", 16, false),
                col("by", 17, false),
                col("big", 25, false),
            ],
        },
        TableShape {
            oid: 200,
            schema: "public".into(),
            name: "ui".into(),
            replica_identity: ReplicaIdentity::Index,
            columns: vec![col("a", 23, true), col("c", 25, false)],
        },
    ]))
}

fn text(v: &str) -> Value {
    Value::Text(Bytes::copy_from_slice(v.as_bytes()))
}

/// Every case is decoded twice, from a slice (values copied) and from
/// `Bytes` (string values without escapes are views): the same changes.
fn decode_with(numeric_as_string: bool, lines: &[&str]) -> Result<Vec<Change>, DecodeError> {
    let copied = decode_as(numeric_as_string, lines, false);
    let shared = decode_as(numeric_as_string, lines, true);
    assert_eq!(format!("{copied:?}"), format!("{shared:?}"));
    copied
}

fn decode_as(
    numeric_as_string: bool,
    lines: &[&str],
    shared: bool,
) -> Result<Vec<Change>, DecodeError> {
    let mut d = Wal2jsonDecoder::new(tables(), numeric_as_string);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let lsn = Lsn(i as u64 + 1);
        if shared {
            d.decode_shared(lsn, &Bytes::copy_from_slice(line.as_bytes()), &mut out)?;
        } else {
            d.decode(lsn, line.as_bytes(), &mut out)?;
        }
    }
    Ok(out)
}

fn changes(lines: &[&str]) -> Vec<Change> {
    decode_with(false, lines)
        .unwrap()
        .into_iter()
        .filter(|c| !matches!(c, Change::Relation(_)))
        .collect()
}

const COLS: &str = r#"{"name":"id","type":"integer","typeoid":23,"value":1},{"name":"n","type":"numeric","typeoid":1700,"value":12.50},{"name":"b","type":"boolean","typeoid":16,"value":true},{"name":"by","type":"bytea","typeoid":17,"value":"00ff"}"#;

#[test]
fn decodes_values_as_postgres_text() {
    let insert = format!(
        r#"{{"action":"I","xid":7,"schema":"public","table":"pk","columns":[{COLS},{{"name":"big","type":"text","typeoid":25,"value":"it's \"q\"\n\t\\"}}],"pk":[{{"name":"id","type":"integer"}}]}}"#
    );
    let out = changes(&[
        r#"{"action":"B","xid":7,"timestamp":"2000-01-01 00:00:02+00","lsn":"0/10","nextlsn":"0/20"}"#,
        &insert,
        r#"{"action":"C","xid":7,"timestamp":"2000-01-01 00:00:02+00","lsn":"0/10","nextlsn":"0/20"}"#,
    ]);
    assert_eq!(
        out[0],
        Change::Begin {
            xid: 7,
            final_lsn: Some(Lsn(0x10)),
            commit_time: Some(2_000_000)
        }
    );
    assert_eq!(
        out[1],
        Change::Insert {
            relation: 100,
            new: vec![
                text("1"),
                text("12.50"),
                text("t"),
                text("\\x00ff"),
                text("it's \"q\"\n\t\\")
            ]
        }
    );
    assert_eq!(
        out[2],
        Change::Commit {
            commit_lsn: Some(Lsn(0x10)),
            end_lsn: Lsn(3),
            commit_time: Some(2_000_000)
        }
    );
}

#[test]
fn updates_keep_the_old_key_only_when_it_changed() {
    let same = format!(
        r#"{{"action":"U","xid":7,"schema":"public","table":"pk","columns":[{COLS}],"identity":[{{"name":"id","type":"integer","typeoid":23,"value":1}}]}}"#
    );
    let changed = format!(
        r#"{{"action":"U","xid":7,"schema":"public","table":"pk","columns":[{COLS}],"identity":[{{"name":"id","type":"integer","typeoid":23,"value":5}}]}}"#
    );
    let out = changes(&[&same, &changed]);
    let new = vec![
        text("1"),
        text("12.50"),
        text("t"),
        text("\\x00ff"),
        Value::Unchanged,
    ];
    assert_eq!(
        out[0],
        Change::Update {
            relation: 100,
            old: None,
            new: new.clone()
        }
    );
    assert_eq!(
        out[1],
        Change::Update {
            relation: 100,
            old: Some(OldTuple::Key(vec![
                text("5"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ])),
            new
        }
    );
}

#[test]
fn truncates_of_one_statement_become_one() {
    let mut d = Wal2jsonDecoder::new(tables(), false);
    let mut out = Vec::new();
    let t =
        |table: &str| format!(r#"{{"action":"T","xid":7,"schema":"public","table":"{table}"}}"#);
    d.decode(Lsn(5), t("pk").as_bytes(), &mut out).unwrap();
    d.decode(Lsn(5), t("ui").as_bytes(), &mut out).unwrap();
    d.decode(Lsn(6), t("ui").as_bytes(), &mut out).unwrap();
    d.decode(Lsn(7), br#"{"action":"C","xid":7}"#, &mut out)
        .unwrap();
    let rest: Vec<_> = out
        .into_iter()
        .filter(|c| !matches!(c, Change::Relation(_)))
        .collect();
    assert_eq!(
        rest,
        vec![
            Change::Truncate {
                relations: vec![100, 200],
                cascade: false,
                restart_identity: false
            },
            Change::Truncate {
                relations: vec![200],
                cascade: false,
                restart_identity: false
            },
            Change::Commit {
                commit_lsn: None,
                end_lsn: Lsn(7),
                commit_time: None
            }
        ]
    );
}

#[test]
fn null_numerics_are_refused_unless_sent_as_strings() {
    let line = r#"{"action":"I","xid":7,"schema":"public","table":"pk","columns":[{"name":"id","type":"integer","typeoid":23,"value":1},{"name":"n","type":"numeric","typeoid":1700,"value":null}]}"#;
    let err = decode_with(false, &[line]).unwrap_err().to_string();
    assert!(
        err.contains("column n of public.pk is null")
            && err.contains("--wal2json-numeric-as-string"),
        "{err}"
    );
    let out = decode_with(true, &[line]).unwrap();
    assert!(matches!(&out[1], Change::Insert { new, .. } if new[1] == Value::Null));
    let nan = r#"{"action":"I","xid":7,"schema":"public","table":"pk","columns":[{"name":"id","type":"integer","typeoid":23,"value":"1"},{"name":"n","type":"numeric","typeoid":1700,"value":"NaN"}]}"#;
    let out = decode_with(true, &[nan]).unwrap();
    assert!(matches!(&out[1], Change::Insert { new, .. } if new[..2] == [text("1"), text("NaN")]));
}

#[test]
fn malformed_messages_are_errors() {
    let cases = [
        ("", "not a format-version 2 object"),
        ("{\"action\":\"I\"", "not a format-version 2 object"),
        ("[1]", "not a format-version 2 object"),
        (r#"{"action":"X"}"#, "unknown action \"X\""),
        (r#"{"action":"B"}"#, "include-xids"),
        (r#"{"action":"B","xid":1,"lsn":"zz"}"#, "invalid LSN"),
        (r#"{"action":"C","timestamp":"now"}"#, "not a timestamp"),
        (
            r#"{"action":"I","schema":"public"}"#,
            "without \"schema\" and \"table\"",
        ),
        (
            r#"{"action":"D","schema":"public","table":"nope"}"#,
            "not in the source catalog",
        ),
        (
            r#"{"action":"D","schema":"public","table":"pk","identity":[{"name":"zz","value":1}]}"#,
            "zz is not a column",
        ),
        (
            r#"{"action":"D","schema":"public","table":"pk","identity":[{"name":"id","typeoid":23,"value":{"a":1}}]}"#,
            "unexpected JSON value",
        ),
        (
            r#"{"action":"D","schema":"public","table":"pk","pk":[{"name":"n"}],"identity":[]}"#,
            "the primary key of public.pk is (n), not (id)",
        ),
        (
            r#"{"action":"M","transactional":true}"#,
            "without \"prefix\"",
        ),
    ];
    for (line, needle) in cases {
        let err = decode_with(false, &[line]).expect_err(line).to_string();
        assert!(err.contains(needle), "{line}: {err} (wanted {needle})");
        assert!(
            err.starts_with("cannot decode the wal2json message at 0/1"),
            "{err}"
        );
    }
}

#[test]
fn no_prefix_of_a_message_panics() {
    let insert = format!(
        r#"{{"action":"I","xid":7,"schema":"public","table":"pk","columns":[{COLS}],"pk":[{{"name":"id"}}]}}"#
    );
    for line in [
        insert.as_str(),
        r#"{"action":"B","xid":7,"timestamp":"2000-01-01 00:00:02+00","lsn":"0/10"}"#,
    ] {
        for cut in 0..line.len() {
            let mut d = Wal2jsonDecoder::new(tables(), false);
            assert!(d
                .decode(Lsn(1), &line.as_bytes()[..cut], &mut Vec::new())
                .is_err());
        }
    }
}
