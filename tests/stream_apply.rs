//! The applier on a real target: hand-built change streams (as a decoder
//! would produce them) applied, then the target's rows read back with psql
//! and compared with what the stream means.

use std::sync::Arc;

use crate::support::Cluster;
use bytes::Bytes;
use pgcopydb::conninfo::ConnInfo;
use pgcopydb::stream::apply::{origin, Applier, ApplyStats, COPY_THRESHOLD};
use pgcopydb::stream::change::{Change, Column, OldTuple, Relation, ReplicaIdentity, Tuple, Value};
use pgcopydb::stream::lsn::Lsn;

const DB: &str = "apply";

fn target() -> Cluster {
    let tgt = Cluster::start();
    tgt.create_db(DB);
    tgt
}

fn info(tgt: &Cluster) -> ConnInfo {
    ConnInfo::resolve(&tgt.uri(DB)).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn t(s: &str) -> Value {
    Value::Text(Bytes::from(s.to_string()))
}

const INT4: u32 = 23;
const TEXT: u32 = 25;

/// A relation: columns as (name, type oid, part of the identity).
fn rel(
    id: u32,
    schema: &str,
    name: &str,
    ident: ReplicaIdentity,
    cols: &[(&str, u32, bool)],
) -> Change {
    Change::Relation(Arc::new(Relation {
        id,
        schema: schema.to_string(),
        name: name.to_string(),
        replica_identity: ident,
        columns: cols
            .iter()
            .map(|(n, oid, key)| Column {
                name: n.to_string(),
                type_oid: *oid,
                type_modifier: -1,
                is_key: *key,
            })
            .collect(),
    }))
}

/// A transaction committing at `end` (its commit record starting 16 bytes
/// before); `known` says whether BEGIN carries that position (pgoutput) or
/// not (the text plugins).
fn tx(xid: u32, end: u64, known: bool, changes: Vec<Change>) -> Vec<Change> {
    let mut out = vec![Change::Begin {
        xid,
        final_lsn: known.then_some(Lsn(end - 16)),
        commit_time: Some(800_000_000_000_000),
    }];
    out.extend(changes);
    out.push(Change::Commit {
        commit_lsn: Some(Lsn(end - 16)),
        end_lsn: Lsn(end),
        commit_time: Some(800_000_000_000_000),
    });
    out
}

fn ins(relation: u32, new: Tuple) -> Change {
    Change::Insert { relation, new }
}
fn upd(relation: u32, old: Option<OldTuple>, new: Tuple) -> Change {
    Change::Update { relation, old, new }
}
fn del(relation: u32, old: OldTuple) -> Change {
    Change::Delete { relation, old }
}

/// Apply `changes` with a fresh applier on origin `origin`, then close it.
async fn apply_all(
    tgt: &ConnInfo,
    origin: &str,
    changes: Vec<Change>,
) -> anyhow::Result<ApplyStats> {
    let mut applier = Applier::connect(tgt, origin).await?;
    for c in changes {
        applier.apply(c).await?;
    }
    applier.close().await
}

fn rows(tgt: &Cluster, sql: &str) -> Vec<Vec<Option<String>>> {
    tgt.query(DB, sql)
}

fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn every_operation_on_every_replica_identity() {
    let tgt = target();
    tgt.psql(
        DB,
        "CREATE TABLE pk (id int PRIMARY KEY, v text);
         INSERT INTO pk VALUES (1, 'one'), (2, 'two'), (3, 'three');
         CREATE TABLE ui (a int NOT NULL, b int NOT NULL, v text, UNIQUE (a, b));
         INSERT INTO ui VALUES (1, 1, 'x'), (1, 2, 'y');
         CREATE TABLE full_dup (n int, j json, p point, x xml, f float8);
         INSERT INTO full_dup VALUES
           (1, '{\"a\": 1}', '(1,2)', '<a/>', 0.1),
           (1, '{\"a\": 1}', '(1,2)', '<a/>', 0.1),
           (2, NULL, '(3,4)', '<b/>', NULL);
         CREATE TABLE nothing (v text);
         ALTER TABLE nothing REPLICA IDENTITY NOTHING;",
    );
    let full_cols = [
        ("n", INT4, true),
        ("j", 114, true),
        ("p", 600, true),
        ("x", 142, true),
        ("f", 701, true),
    ];
    let dup = |f: &str| vec![t("1"), t("{\"a\": 1}"), t("(1,2)"), t("<a/>"), t(f)];
    let mut stream = vec![
        rel(
            1,
            "public",
            "pk",
            ReplicaIdentity::Default,
            &[("id", INT4, true), ("v", TEXT, false)],
        ),
        rel(
            2,
            "public",
            "ui",
            ReplicaIdentity::Index,
            &[("a", INT4, true), ("b", INT4, true), ("v", TEXT, false)],
        ),
        rel(3, "public", "full_dup", ReplicaIdentity::Full, &full_cols),
    ];
    stream.extend(tx(
        700,
        0x1000,
        true,
        vec![
            ins(1, vec![t("4"), t("four")]),
            // Key unchanged: no old tuple.
            upd(1, None, vec![t("2"), t("TWO")]),
            // Key changed: the old key locates the row.
            upd(
                1,
                Some(OldTuple::Key(vec![t("3"), Value::Null])),
                vec![t("30"), t("thirty")],
            ),
            del(1, OldTuple::Key(vec![t("1"), Value::Null])),
            upd(
                2,
                Some(OldTuple::Key(vec![t("1"), t("2"), Value::Null])),
                vec![t("1"), t("3"), t("z")],
            ),
            del(2, OldTuple::Key(vec![t("1"), t("1"), Value::Null])),
            ins(2, vec![t("5"), t("5"), t("new")]),
            // One of two identical rows changes, the other stays.
            upd(3, Some(OldTuple::Full(dup("0.1"))), dup("0.25")),
            // NULLs in the old row match NULLs.
            del(
                3,
                OldTuple::Full(vec![
                    t("2"),
                    Value::Null,
                    t("(3,4)"),
                    t("<b/>"),
                    Value::Null,
                ]),
            ),
        ],
    ));
    let rt = rt();
    let stats = rt.block_on(apply_all(&info(&tgt), "o1", stream)).unwrap();
    assert_eq!((stats.transactions, stats.rows, stats.skipped), (1, 9, 0));
    assert_eq!(
        rows(&tgt, "SELECT id, v FROM public.pk ORDER BY id"),
        vec![
            row(&[Some("2"), Some("TWO")]),
            row(&[Some("4"), Some("four")]),
            row(&[Some("30"), Some("thirty")])
        ]
    );
    assert_eq!(
        rows(&tgt, "SELECT a, b, v FROM public.ui ORDER BY a, b"),
        vec![
            row(&[Some("1"), Some("3"), Some("z")]),
            row(&[Some("5"), Some("5"), Some("new")])
        ]
    );
    assert_eq!(
        rows(&tgt, "SELECT n, j::text, f FROM public.full_dup ORDER BY f"),
        vec![
            row(&[Some("1"), Some("{\"a\": 1}"), Some("0.1")]),
            row(&[Some("1"), Some("{\"a\": 1}"), Some("0.25")])
        ]
    );

    // REPLICA IDENTITY NOTHING: an UPDATE is refused, naming the table, and
    // nothing of its transaction stays.
    let mut stream = vec![
        rel(
            1,
            "public",
            "pk",
            ReplicaIdentity::Default,
            &[("id", INT4, true), ("v", TEXT, false)],
        ),
        rel(
            4,
            "public",
            "nothing",
            ReplicaIdentity::Nothing,
            &[("v", TEXT, false)],
        ),
    ];
    stream.extend(tx(
        701,
        0x2000,
        true,
        vec![ins(1, vec![t("99"), t("lost")]), upd(4, None, vec![t("a")])],
    ));
    let err = rt
        .block_on(apply_all(&info(&tgt), "o1", stream))
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("public.nothing") && message.contains("REPLICA IDENTITY NOTHING"),
        "{message}"
    );
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM public.pk WHERE id = 99"),
        vec![row(&[Some("0")])]
    );
}

#[test]
fn values_columns_and_names_arrive_as_sent() {
    let tgt = target();
    tgt.psql(
        DB,
        "CREATE SCHEMA \"Odd Schema\";
         CREATE TABLE \"Odd Schema\".\"Tab\"\"le\" (\"Id\" int PRIMARY KEY, \"select\" text, \"we ird\" text);
         CREATE TABLE toast (id int PRIMARY KEY, big text, small text);
         INSERT INTO toast VALUES (1, repeat('x', 100000), 'a');
         CREATE TABLE gen (id int PRIMARY KEY, v int, twice int GENERATED ALWAYS AS (v * 2) STORED);",
    );
    let hostile = [
        "tab\there",
        "new\nline",
        "cr\rhere",
        "back\\slash",
        "\\N",
        "quote'single",
        "quote\"double",
        "",
        "\\.",
        "ünïcødé",
    ];
    let odd = || {
        rel(
            1,
            "Odd Schema",
            "Tab\"le",
            ReplicaIdentity::Default,
            &[
                ("Id", INT4, true),
                ("select", TEXT, false),
                ("we ird", TEXT, false),
            ],
        )
    };
    let mut changes = Vec::new();
    // Rows as single INSERTs, then a run long enough for COPY.
    let count = hostile.len() as u64 + COPY_THRESHOLD + 10;
    for i in 0..count {
        let text = hostile[(i as usize) % hostile.len()];
        let second = if i % 3 == 0 { Value::Null } else { t(text) };
        changes.push(ins(1, vec![t(&i.to_string()), t(text), second]));
    }
    let mut stream = vec![
        odd(),
        rel(
            2,
            "public",
            "toast",
            ReplicaIdentity::Default,
            &[
                ("id", INT4, true),
                ("big", TEXT, false),
                ("small", TEXT, false),
            ],
        ),
        rel(
            3,
            "public",
            "gen",
            ReplicaIdentity::Default,
            &[("id", INT4, true), ("v", INT4, false)],
        ),
    ];
    stream.extend(tx(800, 0x1000, true, changes));
    stream.extend(tx(
        801,
        0x2000,
        true,
        vec![
            // The long value is not in the change: it stays as it is.
            upd(2, None, vec![t("1"), Value::Unchanged, t("b")]),
            ins(3, vec![t("1"), t("21")]),
            upd(3, None, vec![t("1"), t("5")]),
        ],
    ));
    let stats = rt().block_on(apply_all(&info(&tgt), "o2", stream)).unwrap();
    assert_eq!((stats.transactions, stats.rows), (2, count + 3));
    let got = rows(
        &tgt,
        "SELECT \"Id\", \"select\", \"we ird\" FROM \"Odd Schema\".\"Tab\"\"le\" ORDER BY 1",
    );
    assert_eq!(got.len() as u64, count);
    for (i, r) in got.iter().enumerate() {
        let text = hostile[i % hostile.len()];
        let second = if i % 3 == 0 { None } else { Some(text) };
        assert_eq!(
            r,
            &row(&[Some(&i.to_string()), Some(text), second]),
            "row {i}"
        );
    }
    assert_eq!(
        rows(
            &tgt,
            "SELECT length(big), big = repeat('x', 100000), small FROM public.toast"
        ),
        vec![row(&[Some("100000"), Some("t"), Some("b")])]
    );
    assert_eq!(
        rows(&tgt, "SELECT v, twice FROM public.gen"),
        vec![row(&[Some("5"), Some("10")])]
    );
}

#[test]
fn partitioned_targets_and_truncate_flags() {
    let tgt = target();
    tgt.psql(
        DB,
        "CREATE TABLE m (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
         CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (100);
         CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (100) TO (1000);
         CREATE TABLE seqd (id serial PRIMARY KEY, v text);
         INSERT INTO seqd (v) VALUES ('a'), ('b');
         CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int REFERENCES parent);
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1);
         CREATE TABLE base (id int);
         CREATE TABLE heir () INHERITS (base);
         INSERT INTO base VALUES (1); INSERT INTO heir VALUES (2);
         -- Same ctids in both partitions, a duplicate row in one.
         CREATE TABLE pf (n int, v text) PARTITION BY LIST (n);
         CREATE TABLE pf1 PARTITION OF pf FOR VALUES IN (1);
         CREATE TABLE pf2 PARTITION OF pf FOR VALUES IN (2);
         INSERT INTO pf VALUES (1, 'a'), (1, 'a'), (2, 'a');",
    );
    let mut stream = vec![
        rel(
            5,
            "public",
            "pf",
            ReplicaIdentity::Full,
            &[("n", INT4, true), ("v", TEXT, true)],
        ),
        // The source's m is a plain table.
        rel(
            1,
            "public",
            "m",
            ReplicaIdentity::Default,
            &[("id", INT4, true), ("v", TEXT, false)],
        ),
        rel(
            2,
            "public",
            "seqd",
            ReplicaIdentity::Default,
            &[("id", INT4, true), ("v", TEXT, false)],
        ),
        rel(
            3,
            "public",
            "parent",
            ReplicaIdentity::Default,
            &[("id", INT4, true)],
        ),
        rel(
            4,
            "public",
            "base",
            ReplicaIdentity::Default,
            &[("id", INT4, false)],
        ),
    ];
    stream.extend(tx(
        900,
        0x1000,
        true,
        vec![
            ins(1, vec![t("5"), t("low")]),
            ins(1, vec![t("150"), t("high")]),
            // Moves from m_low to m_high.
            upd(
                1,
                Some(OldTuple::Key(vec![t("5"), Value::Null])),
                vec![t("500"), t("moved")],
            ),
            upd(1, None, vec![t("150"), t("HIGH")]),
            upd(
                5,
                Some(OldTuple::Full(vec![t("1"), t("a")])),
                vec![t("2"), t("b")],
            ),
            del(5, OldTuple::Full(vec![t("2"), t("a")])),
            Change::Truncate {
                relations: vec![2],
                cascade: false,
                restart_identity: true,
            },
            Change::Truncate {
                relations: vec![3],
                cascade: true,
                restart_identity: false,
            },
            // The source truncated base alone; heir's rows come as their own changes.
            Change::Truncate {
                relations: vec![4],
                cascade: false,
                restart_identity: false,
            },
        ],
    ));
    stream.extend(tx(
        901,
        0x2000,
        true,
        vec![ins(2, vec![t("1"), t("again")])],
    ));
    let stats = rt().block_on(apply_all(&info(&tgt), "o3", stream)).unwrap();
    assert_eq!(stats.transactions, 2);
    assert_eq!(
        rows(
            &tgt,
            "SELECT tableoid::regclass::text, id, v FROM public.m ORDER BY id"
        ),
        vec![
            row(&[Some("public.m_high"), Some("150"), Some("HIGH")]),
            row(&[Some("public.m_high"), Some("500"), Some("moved")])
        ]
    );
    assert_eq!(
        rows(
            &tgt,
            "SELECT tableoid::regclass::text, n, v FROM public.pf ORDER BY n"
        ),
        vec![
            row(&[Some("public.pf1"), Some("1"), Some("a")]),
            row(&[Some("public.pf2"), Some("2"), Some("b")])
        ]
    );
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM public.parent"),
        vec![row(&[Some("0")])]
    );
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM public.child"),
        vec![row(&[Some("0")])]
    );
    // RESTART IDENTITY: the sequence starts over.
    assert_eq!(
        rows(&tgt, "SELECT nextval('public.seqd_id_seq')"),
        vec![row(&[Some("1")])]
    );
    assert_eq!(
        rows(&tgt, "SELECT id FROM public.base ORDER BY id"),
        vec![row(&[Some("2")])]
    );
}

fn counter_stream(known: bool) -> Vec<Change> {
    let mut stream = vec![rel(
        1,
        "public",
        "c",
        ReplicaIdentity::Default,
        &[("id", INT4, true), ("v", TEXT, false)],
    )];
    for i in 1..=20u64 {
        stream.extend(tx(
            1000 + i as u32,
            0x1000 * i,
            known,
            vec![
                ins(1, vec![t(&i.to_string()), t("new")]),
                upd(1, None, vec![t(&i.to_string()), t("updated")]),
            ],
        ));
    }
    // A long transaction, through COPY, then deletes.
    let many: Vec<Change> = (100..100 + COPY_THRESHOLD * 3)
        .map(|i| ins(1, vec![t(&i.to_string()), t("bulk")]))
        .chain((1..=5).map(|i| del(1, OldTuple::Key(vec![t(&i.to_string()), Value::Null]))))
        .collect();
    stream.extend(tx(2000, 0x100_000, known, many));
    stream
}

#[test]
fn a_stream_applied_twice_is_applied_once() {
    let tgt = target();
    tgt.psql(DB, "CREATE TABLE c (id int PRIMARY KEY, v text);");
    let rt = rt();
    let expect = |tgt: &Cluster| {
        assert_eq!(
            rows(
                tgt,
                "SELECT count(*), count(*) FILTER (WHERE v = 'updated'), min(id) FROM public.c"
            ),
            vec![row(&[
                Some(&(15 + COPY_THRESHOLD * 3).to_string()),
                Some("15"),
                Some("6")
            ])]
        );
    };
    for (origin, known) in [("known", true), ("unknown", false)] {
        tgt.psql(DB, "TRUNCATE c");
        let first = rt
            .block_on(apply_all(&info(&tgt), origin, counter_stream(known)))
            .unwrap();
        assert_eq!((first.transactions, first.skipped), (21, 0), "{origin}");
        expect(&tgt);
        // As after a crash: the whole stream again, from its start.
        let again = rt
            .block_on(apply_all(&info(&tgt), origin, counter_stream(known)))
            .unwrap();
        assert_eq!(
            (again.transactions, again.skipped, again.rows),
            (0, 21, 0),
            "{origin}"
        );
        expect(&tgt);
        let progress = rt.block_on(async {
            let mut a = Applier::connect(&info(&tgt), origin).await?;
            let p = a.progress().await?;
            a.close().await?;
            anyhow::Ok(p)
        });
        assert_eq!(progress.unwrap(), Lsn(0x100_000), "{origin}");
        // Half the stream applied, then all of it: the second half is new.
        tgt.psql(
            DB,
            &format!("TRUNCATE c; SELECT pg_replication_origin_drop('{origin}')"),
        );
        let half: Vec<Change> = {
            let all = counter_stream(known);
            let cut = all
                .iter()
                .position(
                    |c| matches!(c, Change::Commit { end_lsn, .. } if *end_lsn == Lsn(0xA000)),
                )
                .unwrap();
            all.into_iter().take(cut + 1).collect()
        };
        let s = rt.block_on(apply_all(&info(&tgt), origin, half)).unwrap();
        assert_eq!(s.transactions, 10);
        let s = rt
            .block_on(apply_all(&info(&tgt), origin, counter_stream(known)))
            .unwrap();
        assert_eq!((s.transactions, s.skipped), (11, 10), "{origin}");
        expect(&tgt);
    }
}

#[test]
fn a_failure_rolls_back_its_transaction_and_what_follows() {
    let tgt = target();
    tgt.psql(
        DB,
        "CREATE TABLE f (id int PRIMARY KEY, v text); INSERT INTO f VALUES (7, 'there');",
    );
    let rt = rt();
    let relation = rel(
        1,
        "public",
        "f",
        ReplicaIdentity::Default,
        &[("id", INT4, true), ("v", TEXT, false)],
    );
    let mut stream = vec![relation.clone()];
    stream.extend(tx(1, 0x1000, true, vec![ins(1, vec![t("1"), t("a")])]));
    // Fails on its second statement, the first is rolled back with it.
    stream.extend(tx(
        2,
        0x2000,
        true,
        vec![ins(1, vec![t("2"), t("b")]), ins(1, vec![t("7"), t("dup")])],
    ));
    // Sent before the failure is known (pipelined): must not commit.
    stream.extend(tx(3, 0x3000, true, vec![ins(1, vec![t("3"), t("c")])]));
    let err = rt
        .block_on(apply_all(&info(&tgt), "o5", stream))
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("INSERT to public.f (source transaction 2)")
            && message.contains("duplicate key"),
        "{message}"
    );
    assert_eq!(
        rows(&tgt, "SELECT id FROM public.f ORDER BY id"),
        vec![row(&[Some("1")]), row(&[Some("7")])]
    );
    let progress = rt.block_on(async {
        let mut a = Applier::connect(&info(&tgt), "o5").await?;
        let p = a.progress().await?;
        a.close().await?;
        anyhow::Ok(p)
    });
    assert_eq!(progress.unwrap(), Lsn(0x1000));

    // An UPDATE that finds no row stops the apply (the target differs from
    // the source), unless missing rows are tolerated: then it is counted.
    let mut stream = vec![relation];
    stream.extend(tx(
        4,
        0x4000,
        true,
        vec![
            upd(1, None, vec![t("404"), t("x")]),
            ins(1, vec![t("4"), t("d")]),
        ],
    ));
    let err = rt
        .block_on(apply_all(&info(&tgt), "o5", stream.clone()))
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("0 rows of public.f match the replica identity (id)=(404)"),
        "{message}"
    );
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM public.f WHERE id = 4"),
        vec![row(&[Some("0")])]
    );
    let stats = rt
        .block_on(async {
            let mut a = Applier::connect(&info(&tgt), "o5").await?;
            a.tolerate_missing_rows(true);
            for c in stream {
                a.apply(c).await?;
            }
            a.close().await
        })
        .unwrap();
    assert_eq!((stats.transactions, stats.missing_rows), (1, 1));
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM public.f WHERE id = 4"),
        vec![row(&[Some("1")])]
    );
}

#[test]
fn a_failed_commit_stops_what_was_sent_after_it() {
    let tgt = target();
    // A deferred check fails a transaction at its COMMIT, after the next
    // one was sent (pipelined), which must then not commit either.
    tgt.psql(
        DB,
        "CREATE TABLE g (id int);
         INSERT INTO g VALUES (1);
         CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.id = 1 THEN RAISE EXCEPTION 'g_id % refused at commit', NEW.id;
              END IF; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER g_check AFTER INSERT ON g DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW EXECUTE FUNCTION refuse();
         -- Fires under session_replication_role = replica too.
         ALTER TABLE g ENABLE ALWAYS TRIGGER g_check;",
    );
    let mut stream = vec![rel(
        1,
        "public",
        "g",
        ReplicaIdentity::Full,
        &[("id", INT4, true)],
    )];
    stream.extend(tx(1, 0x1000, true, vec![ins(1, vec![t("10")])]));
    stream.extend(tx(2, 0x2000, true, vec![ins(1, vec![t("1")])]));
    stream.extend(tx(3, 0x3000, true, vec![ins(1, vec![t("3")])]));
    let rt = rt();
    let err = rt
        .block_on(apply_all(&info(&tgt), "o7", stream))
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("committing the source transaction that ends at 0/2000")
            && message.contains("g_id"),
        "{message}"
    );
    assert_eq!(
        rows(&tgt, "SELECT id FROM public.g ORDER BY id"),
        vec![row(&[Some("1")]), row(&[Some("10")])]
    );
}

#[test]
fn origin_setup_moves_forward_only_and_drops() {
    let tgt = target();
    let rt = rt();
    let i = info(&tgt);
    rt.block_on(async {
        assert_eq!(
            origin::setup(&i, "o6", Lsn(0x5000)).await.unwrap(),
            Lsn(0x5000)
        );
        assert_eq!(
            origin::setup(&i, "o6", Lsn(0x1000)).await.unwrap(),
            Lsn(0x5000)
        );
        origin::drop(&i, "o6").await.unwrap();
        origin::drop(&i, "o6").await.unwrap();
    });
    assert_eq!(
        rows(&tgt, "SELECT count(*) FROM pg_replication_origin"),
        vec![row(&[Some("0")])]
    );
}
