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
    let mut g = col("g", 23, false);
    g.generated = true;
    Arc::new(SourceTables::new(vec![
        TableShape {
            oid: 100,
            schema: "public".into(),
            name: "pk".into(),
            replica_identity: ReplicaIdentity::Default,
            columns: vec![col("id", 23, true), col("t", 25, false), g],
        },
        TableShape {
            oid: 200,
            schema: "My Sch".into(),
            name: "T\"x.y".into(),
            replica_identity: ReplicaIdentity::Full,
            columns: vec![col("Col 1", 23, false), col("b", 16, false)],
        },
    ]))
}

fn text(v: &str) -> Value {
    Value::Text(Bytes::copy_from_slice(v.as_bytes()))
}

/// Every case is decoded twice, from a slice (values copied) and from
/// `Bytes` (values views where they can be): the changes must not differ.
fn decode(lines: &[&str]) -> Result<Vec<Change>, DecodeError> {
    let copied = decode_with(lines, false);
    let shared = decode_with(lines, true);
    assert_eq!(format!("{copied:?}"), format!("{shared:?}"));
    copied
}

fn decode_with(lines: &[&str], shared: bool) -> Result<Vec<Change>, DecodeError> {
    let mut d = TestDecodingDecoder::new(tables());
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

/// A quoted value without doubled quotes is a view of the line (a large
/// value is held once); one with them is unescaped into its own copy.
#[test]
fn plain_quoted_values_are_views_of_the_line() {
    let line = Bytes::from_static(
        b"table public.pk: INSERT: id[integer]:1 t[text]:'plain text' g[integer]:2",
    );
    let mut d = TestDecodingDecoder::new(tables());
    let mut out = Vec::new();
    d.decode_shared(Lsn(1), &line, &mut out).unwrap();
    let Some(Change::Insert { new, .. }) = out.iter().find(|c| matches!(c, Change::Insert { .. }))
    else {
        panic!("no insert: {out:?}");
    };
    let Value::Text(t) = &new[1] else {
        panic!("{new:?}")
    };
    assert_eq!(&t[..], b"plain text");
    assert!(
        crate::stream::decode::within(&line, t),
        "a copy, not a view"
    );
}

fn changes_without_relations(lines: &[&str]) -> Vec<Change> {
    decode(lines)
        .unwrap()
        .into_iter()
        .filter(|c| !matches!(c, Change::Relation(_)))
        .collect()
}

#[test]
fn decodes_transactions_and_values() {
    let out = decode(&[
        "BEGIN 734",
        "table public.pk: INSERT: id[integer]:1 t[text]:'it''s \"q\"\n\ttab\\back' g[integer]:2",
        "table public.pk: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:10 t[text]:unchanged-toast-datum g[integer]:20",
        "table public.pk: DELETE: id[integer]:10",
        "COMMIT 734 (at 2000-01-01 00:00:01.5+00)",
    ])
    .unwrap();
    assert_eq!(
        out[0],
        Change::Begin {
            xid: 734,
            final_lsn: None,
            commit_time: None
        }
    );
    let Change::Relation(rel) = &out[1] else {
        panic!("{:?}", out[1])
    };
    assert_eq!(
        (rel.id, rel.columns.len()),
        (100, 2),
        "generated g is dropped"
    );
    assert!(rel.columns[0].is_key && !rel.columns[1].is_key);
    assert_eq!(
        out[2],
        Change::Insert {
            relation: 100,
            new: vec![text("1"), text("it's \"q\"\n\ttab\\back")]
        }
    );
    assert_eq!(
        out[3],
        Change::Update {
            relation: 100,
            old: Some(OldTuple::Key(vec![text("1"), Value::Null])),
            new: vec![text("10"), Value::Unchanged]
        }
    );
    assert_eq!(
        out[4],
        Change::Delete {
            relation: 100,
            old: OldTuple::Key(vec![text("10"), Value::Null])
        }
    );
    assert_eq!(
        out[5],
        Change::Commit {
            commit_lsn: None,
            end_lsn: Lsn(5),
            commit_time: Some(1_500_000)
        }
    );
}

#[test]
fn quoted_names_full_identity_and_literals() {
    let out = changes_without_relations(&[
        r#"table "My Sch"."T""x.y": INSERT: "Col 1"[integer]:NaN b[boolean]:true"#,
        r#"table "My Sch"."T""x.y": UPDATE: old-key: "Col 1"[integer]:-1e+300 new-tuple: "Col 1"[integer]:null b[boolean]:false"#,
        r#"table "My Sch"."T""x.y": DELETE: b[boolean]:false"#,
    ]);
    assert_eq!(
        out[0],
        Change::Insert {
            relation: 200,
            new: vec![text("NaN"), text("t")]
        }
    );
    assert_eq!(
        out[1],
        Change::Update {
            relation: 200,
            old: Some(OldTuple::Full(vec![text("-1e+300"), Value::Null])),
            new: vec![Value::Null, text("f")]
        }
    );
    assert_eq!(
        out[2],
        Change::Delete {
            relation: 200,
            old: OldTuple::Full(vec![Value::Null, text("f")])
        }
    );
}

#[test]
fn types_with_brackets_quotes_and_bits() {
    let mut d = TestDecodingDecoder::new(Arc::new(SourceTables::new(vec![TableShape {
        oid: 7,
        schema: "s".into(),
        name: "t".into(),
        replica_identity: ReplicaIdentity::Nothing,
        columns: vec![
            col("a", 1007, false),
            col("w", 0, false),
            col("v", 1562, false),
        ],
    }])));
    let mut out = Vec::new();
    d.decode(
        Lsn(1),
        br#"table s.t: INSERT: a[integer[]]:'{1,NULL,3}' w["we]ird"[]]:'{"a b"}' v[bit varying]:B'0101'"#,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out[1],
        Change::Insert {
            relation: 7,
            new: vec![text("{1,NULL,3}"), text("{\"a b\"}"), text("0101")]
        }
    );
    d.decode(Lsn(2), b"table s.t: DELETE: (no-tuple-data)", &mut out)
        .unwrap();
    assert_eq!(
        out[2],
        Change::Delete {
            relation: 7,
            old: OldTuple::Key(vec![Value::Null, Value::Null, Value::Null])
        }
    );
}

#[test]
fn truncate_and_messages() {
    let out = changes_without_relations(&[
        r#"table public.pk, "My Sch"."T""x.y": TRUNCATE: restart_seqs cascade"#,
        "table public.pk: TRUNCATE: (no-flags)",
        "message: transactional: 1 prefix: pre, sz: 3 content:x, sz: 12 content:hello, world",
        "message: transactional: 0 prefix: nt, sz: 0 content:",
    ]);
    assert_eq!(
        out[0],
        Change::Truncate {
            relations: vec![100, 200],
            cascade: true,
            restart_identity: true
        }
    );
    assert_eq!(
        out[1],
        Change::Truncate {
            relations: vec![100],
            cascade: false,
            restart_identity: false
        }
    );
    assert_eq!(
        out[2],
        Change::Message {
            transactional: true,
            prefix: "pre, sz: 3 content:x".into(),
            content: Bytes::from_static(b"hello, world")
        }
    );
    assert_eq!(
        out[3],
        Change::Message {
            transactional: false,
            prefix: "nt".into(),
            content: Bytes::new()
        }
    );
}

#[test]
fn relation_described_again_when_its_columns_change() {
    let out = decode(&[
        "table public.pk: INSERT: id[integer]:1 t[text]:'a' g[integer]:2",
        "table public.pk: INSERT: id[integer]:2 t[text]:'b' g[integer]:4",
        "table public.pk: INSERT: id[integer]:3 t[text]:'c' g[integer]:6 extra[text]:'x'",
    ])
    .unwrap();
    let relations: Vec<_> = out
        .iter()
        .filter_map(|c| match c {
            Change::Relation(r) => Some(r.columns.len()),
            _ => None,
        })
        .collect();
    assert_eq!(relations, vec![2, 3]);
    assert!(matches!(out.last(), Some(Change::Insert { new, .. }) if new.len() == 3));
}

#[test]
fn malformed_lines_are_errors() {
    let cases = [
        ("BEGIN", "include-xids"),
        ("BEGIN x", "not a number"),
        ("COMMIT 5 (at yesterday)", "not a timestamp"),
        (
            "COMMIT 5 (at 2000-01-01 00:00:00+00",
            "ends inside the commit time",
        ),
        ("ROLLBACK 5", "unrecognised line"),
        (
            "table public.pk: INSERT: id[integer]:'1",
            "inside a quoted value",
        ),
        (
            "table public.pk: INSERT: id[integer:1",
            "inside a type name",
        ),
        ("table public.pk: INSERT: id[integer]1", "expected \":\""),
        ("table public.pk: INSERT: id[integer]:", "expected a value"),
        ("table public.pk: DELETE: nope[integer]:1", "not a column"),
        (
            "table public.missing: INSERT: id[integer]:1",
            "not in the source catalog",
        ),
        (
            "table public.pk: INSERT: (no-tuple-data)",
            "without its row",
        ),
        ("table public.pk: MERGE: id[integer]:1", "unknown action"),
        (
            "table public.pk: TRUNCATE: sideways",
            "unknown TRUNCATE flags",
        ),
        ("table \"public.pk: INSERT:", "inside a quoted name"),
        ("table public: INSERT:", "expected \".\""),
        (
            "message: transactional: 1 prefix: p, sz: 9 content:short",
            "no size matching",
        ),
        ("message: transactional: x", "bad message line"),
        ("", "unrecognised line"),
    ];
    for (line, needle) in cases {
        let err = decode(&[line]).expect_err(line);
        let text = err.to_string();
        assert!(text.contains(needle), "{line}: {text} (wanted {needle})");
        assert!(
            text.starts_with("cannot decode the test_decoding message at 0/1"),
            "{text}"
        );
    }
}

#[test]
fn a_relation_of_a_failed_line_is_described_again() {
    let mut d = TestDecodingDecoder::new(tables());
    let mut out = Vec::new();
    assert!(d
        .decode(Lsn(1), b"table public.pk: DELETE: zz[text]:'a'", &mut out)
        .is_err());
    assert!(out.is_empty());
    d.decode(
        Lsn(2),
        b"table public.pk: INSERT: id[integer]:1 t[text]:'a'",
        &mut out,
    )
    .unwrap();
    assert!(matches!(out.first(), Some(Change::Relation(_))));
}

#[test]
fn no_prefix_of_a_line_panics() {
    let lines = [
        "BEGIN 734",
        "COMMIT 734 (at 2000-01-01 00:00:01.5+00)",
        r#"table "My Sch"."T""x.y": UPDATE: old-key: "Col 1"[integer]:-1e+300 new-tuple: "Col 1"[integer]:null b[boolean]:false"#,
        "table public.pk: INSERT: id[integer]:1 t[text]:'it''s' g[integer]:2",
        r#"table public.pk, "My Sch"."T""x.y": TRUNCATE: restart_seqs cascade"#,
        "message: transactional: 1 prefix: pre, sz: 3 content:x, sz: 12 content:hello, world",
    ];
    for line in lines {
        for cut in 0..=line.len() {
            let mut d = TestDecodingDecoder::new(tables());
            let _ = d.decode(Lsn(1), &line.as_bytes()[..cut], &mut Vec::new());
        }
    }
}
