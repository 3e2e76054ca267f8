//! Partitioned tables: the indexes and constraints of a partitioned parent,
//! and the foreign keys to and from it, are built in the data phase as soon as every
//! partition below it is complete, and the target still equals the source.

use crate::support;

use std::path::Path;

use crate::support::{pgcopydb, verify, workdir, Cluster};

const SOURCE: &str = "
CREATE SCHEMA shop;
CREATE TABLE shop.customer (id int PRIMARY KEY, name text NOT NULL);

-- Range, two levels, with a default partition at each level.
CREATE TABLE shop.orders (
    id bigint NOT NULL, placed date NOT NULL, customer int REFERENCES shop.customer,
    note text
) PARTITION BY RANGE (placed);
CREATE TABLE shop.orders_2023 PARTITION OF shop.orders
    FOR VALUES FROM ('2023-01-01') TO ('2024-01-01') PARTITION BY RANGE (placed);
CREATE TABLE shop.orders_2023_h1 PARTITION OF shop.orders_2023
    FOR VALUES FROM ('2023-01-01') TO ('2023-07-01');
CREATE TABLE shop.orders_2023_rest PARTITION OF shop.orders_2023 DEFAULT;
CREATE TABLE shop.orders_2024 PARTITION OF shop.orders
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.orders_other PARTITION OF shop.orders DEFAULT;
ALTER TABLE shop.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id, placed);
CREATE UNIQUE INDEX orders_note_key ON shop.orders (note, placed);
CREATE INDEX orders_customer_idx ON shop.orders (customer);

-- A plain table referencing the partitioned one.
CREATE TABLE shop.order_item (
    order_id bigint NOT NULL, placed date NOT NULL, line int NOT NULL, qty int,
    PRIMARY KEY (order_id, placed, line),
    FOREIGN KEY (order_id, placed) REFERENCES shop.orders (id, placed)
);

-- List, with a unique constraint.
CREATE TABLE shop.region (code text NOT NULL, n int NOT NULL) PARTITION BY LIST (code);
CREATE TABLE shop.region_eu PARTITION OF shop.region FOR VALUES IN ('fr', 'de');
CREATE TABLE shop.region_us PARTITION OF shop.region FOR VALUES IN ('us');
ALTER TABLE shop.region ADD CONSTRAINT region_code_n UNIQUE (code, n);
CREATE INDEX region_n_idx ON shop.region (n);

-- Hash, with a primary key.
CREATE TABLE shop.event (id int PRIMARY KEY, payload text) PARTITION BY HASH (id);
CREATE TABLE shop.event_0 PARTITION OF shop.event FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE shop.event_1 PARTITION OF shop.event FOR VALUES WITH (MODULUS 2, REMAINDER 1);

INSERT INTO shop.customer SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO shop.orders
    SELECT g, date '2022-06-01' + (g % 1000), 1 + g % 50, 'n' || g FROM generate_series(1, 3000) g;
INSERT INTO shop.order_item SELECT id, placed, 1, 2 FROM shop.orders WHERE id % 3 = 0;
INSERT INTO shop.region SELECT (ARRAY['fr', 'de', 'us'])[1 + g % 3], g FROM generate_series(1, 300) g;
INSERT INTO shop.event SELECT g, md5(g::text) FROM generate_series(1, 500) g;
";

fn progress(dir: &Path) -> Vec<serde_json::Value> {
    support::list_progress(dir)["units"]
        .as_array()
        .expect("units")
        .clone()
}

#[test]
fn partitioned_indexes_are_built_in_the_data_phase() {
    let src = Cluster::shared_source();
    let tgt = Cluster::shared_target();
    src.create_db("p");
    src.psql("p", SOURCE);
    tgt.create_db("p");
    let dir = workdir();
    let out = support::clone_between(
        (&src, "p"),
        (&tgt, "p"),
        dir.path(),
        &["--table-jobs", "2", "--index-jobs", "2"],
    );
    support::assert_success(&out, "clone");
    verify::assert_equal(&src, "p", &tgt, "p");

    let units = progress(dir.path());
    let finished = |u: &serde_json::Value| u["finished"].as_f64().expect("finished");
    let post = units
        .iter()
        .find(|u| u["unit"] == "step:post-data")
        .expect("post-data step");
    let post_started = post["started"].as_f64().expect("post-data started");
    let parents: Vec<&serde_json::Value> = units
        .iter()
        .filter(|u| u["kind"] == "parent index")
        .collect();
    let labels: Vec<&str> = parents
        .iter()
        .map(|u| u["label"].as_str().unwrap())
        .collect();
    // Every index of every partitioned table, the intermediate one included.
    for name in [
        "shop.orders_pkey",
        "shop.orders_note_key",
        "shop.orders_customer_idx",
        "shop.orders_2023_pkey",
        "shop.orders_2023_note_placed_idx",
        "shop.orders_2023_customer_idx",
        "shop.region_code_n",
        "shop.region_n_idx",
        "shop.event_pkey",
    ] {
        assert!(labels.contains(&name), "{name} not built: {labels:?}");
    }
    for u in &parents {
        assert_eq!(u["state"], "done", "{u}");
        assert!(finished(u) <= post_started, "after post-data began: {u}");
    }
    // The intermediate parent's indexes come before the top parent's.
    let at = |label: &str| {
        finished(
            parents
                .iter()
                .find(|u| u["label"] == label)
                .expect("unit present"),
        )
    };
    assert!(at("shop.orders_2023_pkey") <= at("shop.orders_pkey"));

    // The key to the partitioned table was added in the data phase too, and
    // so was the one on it (referencing a plain table).
    let keys: Vec<&str> = units
        .iter()
        .filter(|u| u["kind"] == "foreign key")
        .map(|u| u["label"].as_str().unwrap())
        .collect();
    assert!(
        keys.iter()
            .any(|k| k.contains("order_item_order_id_placed_fkey")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.contains("orders_customer_fkey")),
        "{keys:?}"
    );

    // The post-data restore left all of it out: every INDEX ATTACH entry,
    // the parents' INDEX and CONSTRAINT entries, and that foreign key.
    let list = std::fs::read_to_string(dir.path().join("schema/post-filtered.list"))
        .expect("post-data use-list");
    for line in list.lines() {
        let kept = !line.starts_with(';');
        let parent_entry = line.contains(" INDEX ATTACH ")
            || line.contains(" orders_pkey ")
            || line.contains(" orders_note_key ")
            || line.contains(" region_code_n ")
            || line.contains(" event_pkey ")
            || line.contains(" order_item_order_id_placed_fkey ")
            || line.contains(" orders_customer_fkey ");
        assert!(!(kept && parent_entry), "restored in post-data: {line}");
    }

    // Resume after a run cut short in the middle of that work: the parent
    // indexes, constraints, attachments and keys are on the target already,
    // while the state says they are not done. Doing them again is a no-op.
    {
        let db = rusqlite::Connection::open(dir.path().join("pgcopydb.db")).expect("state");
        let n = db
            .execute(
                "UPDATE progress SET state = 'failed', finished = NULL \
                  WHERE kind IN ('parent index', 'foreign key') OR unit = 'step:post-data'",
                [],
            )
            .expect("update state");
        assert!(n > parents.len(), "{n}");
    }
    let out = pgcopydb()
        .args(["clone", "--resume", "--not-consistent"])
        .args(["--source", &src.uri("p"), "--target", &tgt.uri("p")])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run pgcopydb");
    support::assert_success(&out, "clone --resume");
    verify::assert_equal(&src, "p", &tgt, "p");
    let units = progress(dir.path());
    let redone: Vec<&serde_json::Value> = units
        .iter()
        .filter(|u| u["kind"] == "parent index" || u["kind"] == "foreign key")
        .collect();
    assert_eq!(redone.len(), parents.len() + keys.len());
    assert!(redone.iter().all(|u| u["state"] == "done"), "{redone:?}");
}
