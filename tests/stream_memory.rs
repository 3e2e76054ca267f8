//! The follower's memory stays flat whatever the size of one source
//! transaction: what it receives goes to the store on disk and is applied
//! from there change by change, never gathered whole — with an endpos too,
//! where whether a transaction commits at or before endpos is known only at
//! its commit for the plugins whose begin does not say where it commits.

use crate::support;

use crate::support::follow;
use crate::support::measure::run_measured;
use crate::support::{assert_success, output_text, verify, workdir, Cluster};

const PLUGINS: [&str; 3] = ["test_decoding", "wal2json", "pgoutput"];

/// Sets up a follow of `db` (table `t (id int, v text)` on both sides)
/// with `plugin`, runs `load` on the source, follows to the position after
/// it and checks `t` arrived whole; the follower's peak RSS in MB.
fn follow_to_endpos_measured(
    (src, tgt): (&Cluster, &Cluster),
    plugin: &str,
    db: &str,
    load: &str,
) -> i64 {
    src.create_db(db);
    tgt.create_db(db);
    let table = "CREATE TABLE t (id int PRIMARY KEY, v text);";
    src.psql(db, table);
    tgt.psql(db, table);
    let dir = workdir();
    let slot = ["--plugin", plugin, "--slot-name", db, "--origin", db];
    let setup = [&["stream", "setup"][..], &slot[..]].concat();
    assert_success(
        &follow::run(&setup, src, tgt, db, dir.path()),
        "stream setup",
    );
    src.psql(db, load);
    // The insert position is past the end of that commit record.
    let endpos = src.psql(db, "SELECT pg_current_wal_insert_lsn()");
    let args = [&["follow", "--endpos", endpos.as_str()][..], &slot[..]].concat();
    let (out, peak_kb) = run_measured(&mut follow::command(&args, src, tgt, db, dir.path()));
    assert_success(&out, &format!("{plugin}: follow --endpos {endpos}"));
    assert!(
        output_text(&out).contains("endpos reached"),
        "{plugin}: {}",
        output_text(&out)
    );
    // The table, not the databases: pgoutput's publication is the source's own.
    let rows = verify::table_fingerprint(src, db, "public.t");
    assert_eq!(
        verify::table_fingerprint(tgt, db, "public.t"),
        rows,
        "{plugin}"
    );
    eprintln!("{plugin}: peak RSS {} MB", peak_kb / 1024);
    peak_kb / 1024
}

/// Rows of ~500 bytes in one source transaction: ~100 MB of row data.
const ROWS: u32 = 200_000;
/// Well under the transaction's size, well over the tool's own needs.
const PEAK_RSS_BOUND_MB: i64 = 64;

#[test]
fn a_100_mb_transaction_is_followed_to_endpos_in_flat_memory_with_every_plugin() {
    let src = follow::logical_cluster(&support::pgbin());
    let tgt = Cluster::start();
    let mut peaks = Vec::new();
    for plugin in PLUGINS {
        // One statement, one transaction; md5 text is not compressed away.
        let load = format!(
            "INSERT INTO t SELECT g, repeat(md5(g::text), 15) FROM generate_series(1, {ROWS}) g"
        );
        let peak = follow_to_endpos_measured((&src, &tgt), plugin, &format!("tx_{plugin}"), &load);
        peaks.push((plugin, peak));
    }
    assert!(
        peaks.iter().all(|(_, mb)| *mb < PEAK_RSS_BOUND_MB),
        "peak RSS (MB) following a {} MB transaction to endpos: {peaks:?}",
        (ROWS as usize * 500) >> 20
    );
}

const VALUE_MB: i64 = 64;
/// The value once, and the tool's own needs: holding it twice (a copy per
/// step: read back from the store, decoded, encoded for the target) is
/// over this.
const VALUE_PEAK_BOUND_MB: i64 = VALUE_MB + 48;

/// One value of 64 MB (one row, one message of the plugin): the follower
/// holds it about once, not once per step it goes through (the store's
/// record, its decoded value and the target's Bind share the bytes). Was
/// 154 MB with every plugin.
#[test]
fn a_64_mb_value_is_held_about_once() {
    let src = follow::logical_cluster(&support::pgbin());
    let tgt = Cluster::start();
    let mut peaks = Vec::new();
    for plugin in PLUGINS {
        let load = format!("INSERT INTO t VALUES (1, repeat('x', {VALUE_MB} * 1024 * 1024))");
        let peak =
            follow_to_endpos_measured((&src, &tgt), plugin, &format!("value_{plugin}"), &load);
        peaks.push((plugin, peak));
    }
    assert!(
        peaks.iter().all(|(_, mb)| *mb < VALUE_PEAK_BOUND_MB),
        "peak RSS (MB) following one {VALUE_MB} MB value: {peaks:?}"
    );
}
