//! Many small tables (issue 17): whole tables under 1 MB are copied in
//! groups, each group's TRUNCATE + COPY in one target transaction, its
//! indexes and constraints in one more, its ANALYZE in one statement. The
//! proof is in the target's own rows: the rows copied in one transaction
//! carry its xid as xmin (COPY FREEZE keeps it, marked frozen). A crash in a
//! group leaves every table of that group to copy again, and only those.

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::failpoints::Failpoints;
use crate::support::runner::clone_command;
use crate::support::{verify, workdir, Cluster};

const TABLES: usize = 12;

/// `TABLES` small tables, each a primary key, one more index and 20 rows,
/// and a foreign key between two of them.
fn source() -> Cluster {
    let src = Cluster::start();
    src.create_db("src");
    src.psql(
        "src",
        &format!(
            "DO $$ BEGIN
               FOR i IN 1..{TABLES} LOOP
                 EXECUTE format('CREATE TABLE t_%s (id int PRIMARY KEY, code text NOT NULL)', i);
                 EXECUTE format('CREATE INDEX ON t_%s (code)', i);
                 EXECUTE format('INSERT INTO t_%s SELECT g, md5(g::text) FROM generate_series(1, 20) g', i);
               END LOOP;
             END $$;
             ALTER TABLE t_2 ADD FOREIGN KEY (id) REFERENCES t_1 (id);"
        ),
    );
    src
}

/// The xmin of each table's rows on the target (one per table: each table is
/// copied in one transaction), by table name.
fn xmins(tgt: &Cluster) -> BTreeMap<String, String> {
    let sql = (1..=TABLES)
        .map(|i| {
            format!("SELECT 't_{i}', min(xmin::text), count(DISTINCT xmin::text) FROM public.t_{i}")
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    tgt.query("dst", &sql)
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [Some(t), Some(x), Some(n)] => {
                assert_eq!(n, "1", "{t}: its rows in more than one transaction");
                Some((t.clone(), x.clone()))
            }
            _ => None,
        })
        .collect()
}

fn clone(src: &Cluster, tgt: &Cluster, dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = clone_command((src, "src"), (tgt, "dst"), dir, extra);
    cmd.args(["--table-jobs", "1", "--index-jobs", "2", "--not-consistent"]);
    cmd
}

#[test]
fn small_tables_share_one_copy_transaction_and_verify_equal() {
    let src = source();
    let tgt = Cluster::start();
    tgt.create_db("dst");
    let dir = workdir();
    let out = clone(&src, &tgt, dir.path(), &[]).output().unwrap();
    support::assert_success(&out, "pgcopydb clone");
    verify::assert_equal(&src, "src", &tgt, "dst");
    let xmins = xmins(&tgt);
    assert_eq!(xmins.len(), TABLES, "{xmins:?}");
    let distinct: std::collections::BTreeSet<&String> = xmins.values().collect();
    assert_eq!(distinct.len(), 1, "one group, one transaction: {xmins:?}");
    // The summary counts one copy transaction for all of them.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let copies = summary["costs"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["work"] == "TRUNCATE + COPY transactions")
        })
        .unwrap_or_else(|| panic!("no copy costs in {summary:#}"));
    assert_eq!(copies["count"], 1, "{summary:#}");
    // Analyzed, each of them.
    assert_eq!(
        tgt.psql(
            "dst",
            "SELECT count(*) FROM pg_stat_user_tables WHERE analyze_count > 0 AND relname LIKE 't\\_%'"
        ),
        TABLES.to_string()
    );
}

#[test]
fn a_crash_in_a_group_copies_again_exactly_that_group() {
    let src = source();
    let tgt = Cluster::start();
    tgt.create_db("dst");
    let dir = workdir();
    let points = Failpoints::new();
    // Groups of 4, one copy job: three groups, taken one after the other.
    // The crash comes after the second table of the second group.
    let mut cmd = clone(&src, &tgt, dir.path(), &[]);
    cmd.env("PGCOPYDB_COPY_GROUP_TABLES", "4");
    points.arm(&mut cmd, "group-table-copied=crash@6");
    let out = cmd.output().unwrap();
    points.expect_reached("group-table-copied", &out);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc::SIGKILL),
        "{}",
        support::output_text(&out)
    );
    let units = support::list_progress(dir.path())["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["kind"] == "table")
        .map(|u| u["state"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    let count = |state: &str| units.iter().filter(|s| *s == state).count();
    // The first group is in and recorded; the second started, rolled back.
    assert_eq!((count("done"), count("running")), (4, 4), "{units:?}");
    let before = xmins(&tgt);
    let copied: Vec<&String> = before.keys().collect();
    assert_eq!(
        copied.len(),
        4,
        "only the first group's rows are in: {before:?}"
    );

    let mut resume = clone(&src, &tgt, dir.path(), &["--resume"]);
    resume.env("PGCOPYDB_COPY_GROUP_TABLES", "4");
    let out = resume.output().unwrap();
    support::assert_success(&out, "pgcopydb clone --resume");
    verify::assert_equal(&src, "src", &tgt, "dst");
    let after = xmins(&tgt);
    // The first group was not copied again: its rows are the same rows.
    for (table, xmin) in &before {
        assert_eq!(after.get(table), Some(xmin), "{table} was copied again");
    }
    assert_eq!(after.len(), TABLES);
}
