//! Throughput of the applier on a real target (issue 12's levers), run by
//! `bench/stream-apply`; ignored by the test suite: it measures, it does
//! not judge. Prints a Markdown table and writes
//! `bench/results/stream-apply.json`.

use crate::support;

use std::sync::Arc;
use std::time::Instant;

use crate::support::Cluster;
use bytes::Bytes;
use pgcopydb::conninfo::ConnInfo;
use pgcopydb::stream::apply::{Applier, ApplyStats, Tuning};
use pgcopydb::stream::change::{Change, Column, OldTuple, Relation, ReplicaIdentity, Value};
use pgcopydb::stream::lsn::Lsn;

const DB: &str = "bench";

fn relation() -> Change {
    let col = |name: &str, type_oid: u32, is_key: bool| Column {
        name: name.to_string(),
        type_oid,
        type_modifier: -1,
        is_key,
    };
    Change::Relation(Arc::new(Relation {
        id: 1,
        schema: "public".to_string(),
        name: "b".to_string(),
        replica_identity: ReplicaIdentity::Default,
        columns: vec![
            col("id", 20, true),
            col("v", 25, false),
            col("j", 3802, false),
        ],
    }))
}

fn t(s: String) -> Value {
    Value::Text(Bytes::from(s))
}

fn row(id: u64) -> Vec<Value> {
    vec![
        t(id.to_string()),
        t(format!("row {id} with some text\tand a tab")),
        t(format!("{{\"id\": {id}, \"tag\": \"x{}\"}}", id % 97)),
    ]
}

/// `txs` transactions of `per_tx` changes each, made by `change(id)` with
/// ids from `first`, generated as they are applied (never held).
fn stream(
    txs: u64,
    per_tx: u64,
    first: u64,
    change: impl Fn(u64) -> Change + 'static,
) -> impl Iterator<Item = Change> {
    std::iter::once(relation()).chain((0..txs).flat_map(move |n| {
        let end = Lsn((n + 1) * 0x1000 + first * 0x100);
        let begin = Change::Begin {
            xid: n as u32 + 1,
            final_lsn: Some(Lsn(end.0 - 16)),
            commit_time: None,
        };
        let commit = Change::Commit {
            commit_lsn: None,
            end_lsn: end,
            commit_time: None,
        };
        let ids = first + n * per_tx..first + (n + 1) * per_tx;
        std::iter::once(begin)
            .chain(ids.map(&change).collect::<Vec<_>>())
            .chain(std::iter::once(commit))
    }))
}

fn insert(id: u64) -> Change {
    Change::Insert {
        relation: 1,
        new: row(id),
    }
}

fn update(id: u64) -> Change {
    let mut new = row(id);
    new[1] = t(format!("updated {id}"));
    Change::Update {
        relation: 1,
        old: None,
        new,
    }
}

fn delete(id: u64) -> Change {
    Change::Delete {
        relation: 1,
        old: OldTuple::Key(vec![t(id.to_string()), Value::Null, Value::Null]),
    }
}

struct Run {
    name: String,
    rows: u64,
    transactions: u64,
    seconds: f64,
}

async fn apply(
    target: &ConnInfo,
    origin: &str,
    tuning: Tuning,
    changes: impl Iterator<Item = Change>,
) -> (ApplyStats, f64) {
    let mut applier = Applier::connect(target, origin).await.unwrap();
    applier.set_tuning(tuning);
    let start = Instant::now();
    for change in changes {
        applier.apply(change).await.unwrap();
    }
    let stats = applier.close().await.unwrap();
    (stats, start.elapsed().as_secs_f64())
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "a measurement: run bench/stream-apply"]
fn stream_apply_throughput() {
    let scale: u64 = std::env::var("STREAM_APPLY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let tgt = Cluster::start_with(
        &support::pgbin(),
        &[
            ("fsync", "on"),
            ("shared_buffers", "256MB"),
            ("max_wal_size", "4GB"),
        ],
    );
    tgt.create_db(DB);
    let info = ConnInfo::resolve(&tgt.uri(DB)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pipelined = Tuning::default();
    let inserts = Tuning {
        copy_after: None,
        ..pipelined
    };
    let serial = Tuning {
        max_in_flight: 1,
        copy_after: None,
    };
    let copy_at = |n: u64| Tuning {
        copy_after: Some(n),
        ..pipelined
    };
    let reset = |tgt: &Cluster| {
        tgt.psql(
            DB,
            "DROP TABLE IF EXISTS b; CREATE TABLE b (id bigint PRIMARY KEY, v text, j jsonb);
             SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin; CHECKPOINT;",
        );
    };
    let mut runs: Vec<Run> = Vec::new();
    let mut record = |name: String, (stats, seconds): (ApplyStats, f64)| {
        let run = Run {
            name,
            rows: stats.rows,
            transactions: stats.transactions,
            seconds,
        };
        eprintln!(
            "{}: {} rows, {} tx in {:.2} s: {:.0} rows/s, {:.0} tx/s",
            run.name,
            run.rows,
            run.transactions,
            run.seconds,
            run.rows as f64 / run.seconds,
            run.transactions as f64 / run.seconds
        );
        runs.push(run);
    };
    let big = 100_000 * scale;

    for (label, tuning) in [
        ("COPY after 128 (default)", pipelined),
        ("INSERT pipelined", inserts),
    ] {
        reset(&tgt);
        let r = rt.block_on(apply(&info, "bench", tuning, stream(10, big, 0, insert)));
        record(
            format!("{} single-row INSERTs in 10 tx, {label}", 10 * big),
            r,
        );
    }
    let rss_after_big = peak_rss_mb();
    reset(&tgt);
    let r = rt.block_on(apply(&info, "bench", serial, stream(1, big, 0, insert)));
    record(format!("{big} INSERTs in 1 tx, one at a time"), r);

    for (label, tuning) in [("pipelined", pipelined), ("one at a time", serial)] {
        reset(&tgt);
        let r = rt.block_on(apply(&info, "bench", tuning, stream(big, 1, 0, insert)));
        record(format!("{big} single-row transactions, {label}"), r);
    }

    // UPDATEs and DELETEs by key, on the rows of the last run.
    for (label, tuning) in [("pipelined", pipelined), ("one at a time", serial)] {
        let n = if tuning.max_in_flight == 1 {
            big / 4
        } else {
            big
        };
        let r = rt.block_on(apply(
            &info,
            &format!("u{label}"),
            tuning,
            stream(10, n / 10, 0, update),
        ));
        record(format!("{n} UPDATEs by key in 10 tx, {label}"), r);
        let r = rt.block_on(apply(
            &info,
            &format!("d{label}"),
            tuning,
            stream(10, n / 10, 0, delete),
        ));
        record(format!("{n} DELETEs by key in 10 tx, {label}"), r);
        reset(&tgt);
        rt.block_on(apply(&info, "refill", pipelined, stream(1, big, 0, insert)));
    }

    // Where COPY starts to win: runs of `len` INSERTs, each its own transaction.
    for len in [16u64, 64, 256, 1024] {
        let txs = (big / len).max(1);
        for (label, tuning) in [("COPY", copy_at(0)), ("INSERT", inserts)] {
            reset(&tgt);
            let r = rt.block_on(apply(&info, "bench", tuning, stream(txs, len, 0, insert)));
            record(format!("runs of {len} INSERTs, {label}"), r);
        }
    }

    let mut md = String::from(
        "| run | rows | tx | seconds | rows/s | tx/s |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let mut json = Vec::new();
    for r in &runs {
        md.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} |\n",
            r.name,
            r.rows,
            r.transactions,
            r.seconds,
            r.rows as f64 / r.seconds,
            r.transactions as f64 / r.seconds
        ));
        json.push(serde_json::json!({
            "run": r.name, "rows": r.rows, "transactions": r.transactions, "seconds": r.seconds,
        }));
    }
    md.push_str(&format!(
        "\nPeak RSS of the bench process after the {}-row runs: {rss_after_big:.1} MB; at the end: {:.1} MB\n",
        10 * big,
        peak_rss_mb()
    ));
    println!("{md}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("stream-apply.md"), &md).unwrap();
    std::fs::write(
        dir.join("stream-apply.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "scale": scale, "runs": json })).unwrap(),
    )
    .unwrap();
}
