//! The three decoders (`pgoutput`, `test_decoding`, `wal2json`) read the
//! same DML script from one slot each on a real server (through
//! `pg_logical_slot_peek_binary_changes`, the bytes a walsender sends) and
//! must yield the same changes: same transactions, same relations and keys,
//! same values in text form. Each stream, applied to an in-memory copy of
//! the tables, must also end with exactly what the source holds.
//!
//! What a plugin cannot say, erased from both sides before comparing (each
//! documented in the decoder's module):
//! - test_decoding prints neither the commit record's LSN nor the commit
//!   time at BEGIN (only at COMMIT): `final_lsn`, Begin's `commit_time` and
//!   `commit_lsn` are `None`.
//! - test_decoding gives a transaction whose only content is transactional
//!   messages no BEGIN/COMMIT (with `skip-empty-xacts`, its message callback
//!   does not open one): such transactions are unwrapped.
//! - wal2json writes no TRUNCATE flags (CASCADE, RESTART IDENTITY).
//! - wal2json before 2.6 has no `numeric-data-types-as-string` and writes
//!   NaN/Infinity as `null`, like NULL: the decoder refuses the table with
//!   those values (`nums`, checked), and the comparison reads wal2json's
//!   stream with that table filtered out (`filter-tables`), leaving the
//!   then empty transaction out of every stream.

use std::collections::HashMap;
use std::sync::Arc;

use crate::support::Cluster;
use pgcopydb::stream::change::{Change, OldTuple, RelId, Relation, ReplicaIdentity, Value};
use pgcopydb::stream::decode::options::{decoder, plugin_options, StreamSettings};
use pgcopydb::stream::decode::tables::SourceTables;
use pgcopydb::stream::decode::{DecodeError, Plugin};
use pgcopydb::stream::lsn::Lsn;
use tokio_postgres::{Client, NoTls};

const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('happy', 'it''s');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE pk_t (
  id int PRIMARY KEY, t text, ta text[], a int[], j jsonb, js json, by bytea,
  ts timestamptz, d posint, m mood, bits bit(4), vb varbit, b bool,
  n numeric NOT NULL DEFAULT 0, f float8 NOT NULL DEFAULT 0, i8 bigint, big text,
  g int GENERATED ALWAYS AS (id * 2) STORED);
ALTER TABLE pk_t ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE full_t (a int, b text, c jsonb);
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE TABLE ui_t (a int NOT NULL, b text NOT NULL, c text);
CREATE UNIQUE INDEX ui_t_ab ON ui_t (a, b);
ALTER TABLE ui_t REPLICA IDENTITY USING INDEX ui_t_ab;
CREATE SCHEMA "Sch ema";
CREATE TABLE "Sch ema"."My Tab""x" ("Col 1" int PRIMARY KEY, "UPPER" text, "sel.ect" text, "new-tuple" text);
CREATE TABLE nums (id int PRIMARY KEY, n numeric, f float8, r real);
CREATE TABLE parent (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
CREATE TABLE no_key (a int);
CREATE PUBLICATION "All Tables" FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('s_pgoutput', 'pgoutput');
SELECT pg_create_logical_replication_slot('s_test_decoding', 'test_decoding');
SELECT pg_create_logical_replication_slot('s_wal2json', 'wal2json');
"#;

// The test servers run with synchronous_commit off, and logical decoding
// reads only flushed WAL: every commit of the script is flushed at once.
const DML: &str = r#"
SET synchronous_commit = on;
INSERT INTO pk_t (id, t, ta, a, j, js, by, ts, d, m, bits, vb, b, n, f, i8, big) VALUES
  (1, E'it''s "q"\n\ttab\\back', ARRAY[E'line1\nline2', 'with "quote" and \', NULL], '{1,NULL,3}',
   '{"a": [1, 2.50], "b": "x\"y", "c": null}', '{"k" :  1}', '\x00ff27', '2024-01-02 03:04:05.678+02',
   5, 'it''s', B'1010', B'11', true, 12.50, -1.5e300, 9007199254740993, repeat('long ', 4000));
INSERT INTO pk_t (id) VALUES (2);
UPDATE pk_t SET t = 'changed', b = false WHERE id = 1;
UPDATE pk_t SET id = 10 WHERE id = 1;
DELETE FROM pk_t WHERE id = 2;
INSERT INTO full_t VALUES (1, NULL, '{"z": 1}'), (2, 'two', NULL), (2, 'two', NULL);
UPDATE full_t SET b = 'one' WHERE a = 1;
DELETE FROM full_t WHERE ctid = (SELECT min(ctid) FROM full_t WHERE a = 2);
INSERT INTO ui_t VALUES (1, 'k', 'c');
UPDATE ui_t SET c = 'd';
UPDATE ui_t SET a = 5;
DELETE FROM ui_t WHERE a = 5;
INSERT INTO ui_t VALUES (7, 'k7', NULL);
INSERT INTO "Sch ema"."My Tab""x" VALUES (1, 'Up', 'dot', 'nt'), (2, 'two', NULL, NULL);
UPDATE "Sch ema"."My Tab""x" SET "UPPER" = 'Down' WHERE "Col 1" = 1;
INSERT INTO nums VALUES (1, 'NaN', 'Infinity', '-Infinity'), (2, NULL, NULL, NULL), (3, 1.50, 1e300, 1.5);
INSERT INTO parent (v) VALUES ('p1'), ('p2');
INSERT INTO child VALUES (1, 1);
TRUNCATE parent RESTART IDENTITY CASCADE;
INSERT INTO parent (v) VALUES ('p3');
INSERT INTO no_key VALUES (1);
TRUNCATE ui_t;
INSERT INTO ui_t VALUES (8, 'k8', 'after truncate');
SELECT pg_logical_emit_message(false, 'plain', E'non-transactional\nmessage');
SELECT pg_logical_emit_message(true, 'alone, sz: 1 content:x', 'only a message');
BEGIN;
INSERT INTO full_t VALUES (3, 'three', '[]');
SELECT pg_logical_emit_message(true, 'in-tx', 'between changes');
UPDATE pk_t SET big = 'short now', i8 = -1 WHERE id = 10;
DELETE FROM "Sch ema"."My Tab""x" WHERE "Col 1" = 1;
COMMIT;
BEGIN;
INSERT INTO pk_t (id) VALUES (99);
ROLLBACK;
"#;

/// The tables whose final content every stream must reproduce.
const TABLES: &[(&str, &str)] = &[
    ("public", "pk_t"),
    ("public", "full_t"),
    ("public", "ui_t"),
    ("Sch ema", "My Tab\"x"),
    ("public", "nums"),
    ("public", "parent"),
    ("public", "child"),
    ("public", "no_key"),
];

async fn connect(cluster: &Cluster) -> Client {
    let (client, conn) = tokio_postgres::connect(&cluster.uri("cdc"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// The slot's messages, as a walsender would send them, without consuming them.
async fn peek(
    client: &Client,
    slot: &str,
    options: &[(&'static str, String)],
) -> Result<Vec<(Lsn, Vec<u8>)>, tokio_postgres::Error> {
    let flat: Vec<String> = options
        .iter()
        .flat_map(|(k, v)| [k.to_string(), v.clone()])
        .collect();
    let rows = client
        .query(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, VARIADIC $2::text[])",
            &[&slot, &flat],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let lsn: String = r.try_get(0).unwrap();
            (lsn.parse().unwrap(), r.try_get(1).unwrap())
        })
        .collect())
}

fn decode_all(
    plugin: Plugin,
    tables: &Arc<SourceTables>,
    settings: &StreamSettings,
    messages: &[(Lsn, Vec<u8>)],
) -> Result<Vec<Change>, DecodeError> {
    let mut d = decoder(plugin, Arc::clone(tables), settings);
    let mut out = Vec::new();
    for (lsn, data) in messages {
        d.decode(*lsn, data, &mut out)?;
    }
    Ok(out)
}

/// The relations a stream described (the last description of each).
fn relations(changes: &[Change]) -> HashMap<RelId, Arc<Relation>> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Relation(r) => Some((r.id, Arc::clone(r))),
            _ => None,
        })
        .collect()
}

/// What `plugin` can say of `changes` (the module comment lists why):
/// relations taken out, changes of `skip` relations and the transactions
/// they leave empty dropped, message-only transactions unwrapped.
fn comparable(changes: &[Change], plugin: Plugin, skip: &[RelId]) -> Vec<Change> {
    let mut flat: Vec<Change> = Vec::new();
    let mut open: Option<Vec<Change>> = None;
    for change in changes {
        let mut change = change.clone();
        match &mut change {
            Change::Relation(_) => continue,
            Change::Insert { relation, .. }
            | Change::Update { relation, .. }
            | Change::Delete { relation, .. }
                if skip.contains(relation) =>
            {
                continue
            }
            Change::Begin {
                final_lsn,
                commit_time,
                ..
            } if plugin == Plugin::TestDecoding => {
                *final_lsn = None;
                *commit_time = None;
            }
            Change::Commit { commit_lsn, .. } if plugin == Plugin::TestDecoding => {
                *commit_lsn = None;
            }
            Change::Truncate {
                cascade,
                restart_identity,
                ..
            } if plugin == Plugin::Wal2json => {
                *cascade = false;
                *restart_identity = false;
            }
            _ => {}
        }
        match change {
            Change::Begin { .. } => open = Some(vec![change]),
            Change::Commit { .. } => {
                let mut tx = open.take().expect("COMMIT without BEGIN");
                tx.push(change);
                let inner = &tx[1..tx.len() - 1];
                if inner.iter().all(|c| matches!(c, Change::Message { .. })) {
                    flat.extend(inner.iter().cloned());
                } else {
                    flat.extend(tx);
                }
            }
            other => match &mut open {
                Some(tx) => tx.push(other),
                None => flat.push(other),
            },
        }
    }
    assert!(open.is_none(), "a transaction without COMMIT");
    flat
}

type Row = Vec<Option<String>>;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(b) => Some(String::from_utf8(b.to_vec()).unwrap()),
        other => panic!("unexpected value {other:?}"),
    }
}

/// Applies a stream to in-memory tables, locating rows the way the applier
/// must: by the old key's key columns, the whole old row under FULL, the
/// new row's key when the key did not change.
fn apply(changes: &[Change]) -> HashMap<RelId, Vec<Row>> {
    let mut rels: HashMap<RelId, Arc<Relation>> = HashMap::new();
    let mut data: HashMap<RelId, Vec<Row>> = HashMap::new();
    let find = |rows: &[Row], rel: &Relation, values: &[Value], full: bool| -> usize {
        rows.iter()
            .position(|row| {
                rel.columns
                    .iter()
                    .zip(values)
                    .zip(row)
                    .all(|((c, v), have)| !(full || c.is_key) || text(v) == *have)
            })
            .unwrap_or_else(|| panic!("no row of {} matches {values:?}", rel.name))
    };
    for change in changes {
        match change {
            Change::Relation(r) => {
                rels.insert(r.id, Arc::clone(r));
            }
            Change::Insert { relation, new } => {
                data.entry(*relation)
                    .or_default()
                    .push(new.iter().map(text).collect());
            }
            Change::Update { relation, old, new } => {
                let rel = &rels[relation];
                let rows = data.entry(*relation).or_default();
                let at = match old {
                    Some(OldTuple::Full(o)) => find(rows, rel, o, true),
                    Some(OldTuple::Key(o)) => find(rows, rel, o, false),
                    None => find(rows, rel, new, false),
                };
                for (have, v) in rows[at].iter_mut().zip(new) {
                    if *v != Value::Unchanged {
                        *have = text(v);
                    }
                }
            }
            Change::Delete { relation, old } => {
                let rel = &rels[relation];
                let rows = data.entry(*relation).or_default();
                let at = find(rows, rel, old.values(), matches!(old, OldTuple::Full(_)));
                rows.remove(at);
            }
            Change::Truncate { relations, .. } => {
                for r in relations {
                    data.remove(r);
                }
            }
            _ => {}
        }
    }
    for rows in data.values_mut() {
        rows.sort();
    }
    data.retain(|_, rows| !rows.is_empty());
    data
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The source's rows of every table in `rels`, each column as its type's
/// output function writes it (`format('%s')`; a cast to text would write
/// booleans as `true`/`false`).
async fn source_rows(
    client: &Client,
    rels: &HashMap<RelId, Arc<Relation>>,
) -> HashMap<RelId, Vec<Row>> {
    let mut out = HashMap::new();
    for rel in rels.values() {
        let cols: Vec<String> = rel
            .columns
            .iter()
            .map(|c| {
                let c = ident(&c.name);
                format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END")
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {}.{}",
            cols.join(", "),
            ident(&rel.schema),
            ident(&rel.name)
        );
        let mut rows: Vec<Row> = client
            .query(&sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (0..cols.len()).map(|i| r.try_get(i).unwrap()).collect())
            .collect();
        rows.sort();
        if !rows.is_empty() {
            out.insert(rel.id, rows);
        }
    }
    out
}

fn rel_id(rels: &HashMap<RelId, Arc<Relation>>, schema: &str, name: &str) -> RelId {
    rels.values()
        .find(|r| r.schema == schema && r.name == name)
        .unwrap_or_else(|| panic!("no relation {schema}.{name}"))
        .id
}

#[test]
fn the_three_decoders_agree_on_one_dml_script() {
    let cluster = Cluster::start();
    cluster.create_db("cdc");
    cluster.psql("cdc", SCHEMA);
    cluster.psql("cdc", DML);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = connect(&cluster).await;
        let tables = Arc::new(SourceTables::load(&client).await.unwrap());
        let without: Vec<&str> = tables
            .without_identity()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(without, ["no_key"], "UPDATE and DELETE cannot be located");
        let mut settings = StreamSettings {
            publication: "All Tables".into(),
            wal2json_numeric_as_string: false,
        };

        let read = |plugin: Plugin, settings: StreamSettings| {
            let client = &client;
            let tables = &tables;
            async move {
                let slot = format!("s_{}", plugin.name());
                let messages = peek(client, &slot, &plugin_options(plugin, &settings))
                    .await
                    .unwrap();
                decode_all(plugin, tables, &settings, &messages).unwrap()
            }
        };
        let pgoutput = read(Plugin::Pgoutput, settings.clone()).await;
        let test_decoding = read(Plugin::TestDecoding, settings.clone()).await;
        let rels = relations(&pgoutput);
        check_reference(&pgoutput, &rels);

        // wal2json: NaN and Infinity are faithful only as strings (2.6+).
        let mut w_options = plugin_options(Plugin::Wal2json, &settings);
        w_options.push(("numeric-data-types-as-string", "1".into()));
        let nums = rel_id(&rels, "public", "nums");
        let (wal2json, wal2json_skips) = match peek(&client, "s_wal2json", &w_options).await {
            Ok(messages) => {
                settings.wal2json_numeric_as_string = true;
                let all = decode_all(Plugin::Wal2json, &tables, &settings, &messages).unwrap();
                (all, vec![])
            }
            Err(e) => {
                let e = e.as_db_error().map(|d| d.message().to_string());
                let e = e.unwrap_or_default();
                assert!(e.contains("numeric-data-types-as-string"), "{e}");
                let options = plugin_options(Plugin::Wal2json, &settings);
                let messages = peek(&client, "s_wal2json", &options).await.unwrap();
                let err = decode_all(Plugin::Wal2json, &tables, &settings, &messages)
                    .expect_err("NaN written as null must be refused")
                    .to_string();
                assert!(
                    err.contains("column n of public.nums is null")
                        && err.contains("--wal2json-numeric-as-string"),
                    "{err}"
                );
                let mut options = options;
                options.push(("filter-tables", "public.nums".into()));
                let messages = peek(&client, "s_wal2json", &options).await.unwrap();
                let some = decode_all(Plugin::Wal2json, &tables, &settings, &messages).unwrap();
                (some, vec![nums])
            }
        };

        // Same relations, keys and identities.
        let mut rels_without_skipped = rels.clone();
        rels_without_skipped.retain(|id, _| !wal2json_skips.contains(id));
        assert_eq!(relations(&test_decoding), rels, "test_decoding's relations");
        assert_eq!(
            relations(&wal2json),
            rels_without_skipped,
            "wal2json's relations"
        );

        // Same changes, transactions and commit positions.
        for (plugin, stream, skip) in [
            (Plugin::TestDecoding, &test_decoding, &[][..]),
            (Plugin::Wal2json, &wal2json, &wal2json_skips[..]),
        ] {
            let want = comparable(&pgoutput, plugin, skip);
            let got = comparable(stream, plugin, skip);
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(g, w, "{} change {i} differs from pgoutput's", plugin.name());
            }
            assert_eq!(got.len(), want.len(), "{} change count", plugin.name());
        }

        // Each stream applied gives what the source holds.
        let source = source_rows(&client, &rels).await;
        assert_eq!(
            source.len(),
            TABLES.len() - 1,
            "child is empty after the cascade"
        );
        for (plugin, stream, skip) in [
            (Plugin::Pgoutput, &pgoutput, &[][..]),
            (Plugin::TestDecoding, &test_decoding, &[][..]),
            (Plugin::Wal2json, &wal2json, &wal2json_skips[..]),
        ] {
            let mut want = source.clone();
            want.retain(|id, _| !skip.contains(id));
            assert_eq!(apply(stream), want, "{} applied", plugin.name());
        }
    });
}

/// pgoutput is PostgreSQL's own: check the cases the script is made of, so
/// agreeing with it means being right.
fn check_reference(changes: &[Change], rels: &HashMap<RelId, Arc<Relation>>) {
    let rel = |schema: &str, name: &str| &rels[&rel_id(rels, schema, name)];
    let keys = |r: &Relation| -> Vec<String> {
        r.columns
            .iter()
            .filter(|c| c.is_key)
            .map(|c| c.name.clone())
            .collect()
    };
    let pk = rel("public", "pk_t");
    assert_eq!(pk.replica_identity, ReplicaIdentity::Default);
    assert_eq!(keys(pk), ["id"]);
    assert!(
        pk.columns.iter().all(|c| c.name != "g"),
        "generated columns are not sent"
    );
    let full = rel("public", "full_t");
    assert_eq!(full.replica_identity, ReplicaIdentity::Full);
    assert_eq!(keys(full), ["a", "b", "c"]);
    let ui = rel("public", "ui_t");
    assert_eq!(ui.replica_identity, ReplicaIdentity::Index);
    assert_eq!(keys(ui), ["a", "b"]);
    assert_eq!(keys(rel("Sch ema", "My Tab\"x")), ["Col 1"]);
    assert!(keys(rel("public", "no_key")).is_empty());

    let begins = changes
        .iter()
        .filter(|c| matches!(c, Change::Begin { .. }))
        .count();
    // 23 autocommitted statements with changes, a message-only one, the
    // multi-statement one; the rolled back one is not there.
    let firsts: Vec<String> = changes
        .windows(2)
        .filter(|w| matches!(w[0], Change::Begin { .. }))
        .map(|w| format!("{:.60}", format!("{:?}", w[1])))
        .collect();
    assert_eq!(begins, 25, "transactions: {firsts:#?}");
    let toast_kept = changes.iter().any(|c| {
        matches!(c, Change::Update { relation, new, .. }
            if *relation == pk.id && new.last() == Some(&Value::Unchanged))
    });
    assert!(toast_kept, "the TOASTed column left unchanged by an update");
    let key_update = changes.iter().any(|c| {
        matches!(c, Change::Update { relation, old: Some(OldTuple::Key(_)), .. } if *relation == pk.id)
    });
    assert!(key_update, "the update of the key carries the old key");
    let cascade = changes.iter().any(|c| {
        matches!(c, Change::Truncate { relations, cascade: true, restart_identity: true }
            if relations.len() == 2)
    });
    assert!(
        cascade,
        "TRUNCATE ... RESTART IDENTITY CASCADE of parent and child"
    );
    let messages = changes
        .iter()
        .filter(|c| matches!(c, Change::Message { .. }))
        .count();
    assert_eq!(messages, 3);
}

/// Decode speed of each plugin's stream, printed (not asserted): run with
/// `cargo nextest run --release -E 'test(/^stream_decode::/)'
/// --run-ignored only --no-capture`.
#[test]
#[ignore = "a measurement, not a check"]
fn decode_throughput() {
    let cluster = Cluster::start();
    cluster.create_db("cdc");
    cluster.psql(
        "cdc",
        "CREATE TABLE bench (id int PRIMARY KEY, v text, j jsonb, n numeric NOT NULL, t timestamptz);
         CREATE PUBLICATION \"All Tables\" FOR ALL TABLES;
         SELECT pg_create_logical_replication_slot('s_pgoutput', 'pgoutput');
         SELECT pg_create_logical_replication_slot('s_test_decoding', 'test_decoding');
         SELECT pg_create_logical_replication_slot('s_wal2json', 'wal2json');
         SET synchronous_commit = on;
         INSERT INTO bench SELECT i, md5(i::text), jsonb_build_object('k', i, 's', 'x y'), i / 7.0, now()
           FROM generate_series(1, 100000) i;
         UPDATE bench SET v = v || '!';",
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = connect(&cluster).await;
        let tables = Arc::new(SourceTables::load(&client).await.unwrap());
        let settings = StreamSettings {
            publication: "All Tables".into(),
            wal2json_numeric_as_string: false,
        };
        for plugin in [Plugin::Pgoutput, Plugin::TestDecoding, Plugin::Wal2json] {
            let slot = format!("s_{}", plugin.name());
            let messages = peek(&client, &slot, &plugin_options(plugin, &settings))
                .await
                .unwrap();
            let bytes: usize = messages.iter().map(|(_, m)| m.len()).sum();
            let started = std::time::Instant::now();
            let changes = decode_all(plugin, &tables, &settings, &messages).unwrap();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{:>13}: {} messages, {:.1} MB, {} changes decoded in {:.3} s: {:.0} changes/s, {:.0} MB/s",
                plugin.name(),
                messages.len(),
                bytes as f64 / 1e6,
                changes.len(),
                secs,
                changes.len() as f64 / secs,
                bytes as f64 / 1e6 / secs
            );
        }
    });
}
