//! The store end to end on a real directory: group commit, rotation with
//! relation heads, live tailing, restart positions and torn tails.

use std::io::Write;

use super::record::Kind;
use super::segments::{self, cdc_dir};
use super::{StoreReader, StoreWriter};
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;

fn relation(oid: u32) -> Vec<u8> {
    let mut m = vec![b'R'];
    m.extend_from_slice(&oid.to_be_bytes());
    m.extend_from_slice(b"public\0t\0");
    m
}

/// One transaction of `rows` inserts ending at `end`.
fn transaction(w: &mut StoreWriter, start: u64, rows: u64, end: u64) {
    w.append(Lsn(start), b"B").unwrap();
    for i in 0..rows {
        w.append(Lsn(start + 1 + i), &[b'I'; 100]).unwrap();
    }
    w.append(Lsn(end), b"C").unwrap();
}

async fn read_all(reader: &mut StoreReader) -> Vec<(Lsn, Kind)> {
    let mut out = Vec::new();
    while let Some(r) = reader.next().await.unwrap() {
        out.push((r.lsn, r.kind));
    }
    out
}

#[tokio::test]
async fn segments_rotate_after_a_commit_and_start_with_the_relations() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StoreWriter::open(dir.path(), Plugin::Pgoutput, 64 << 10, Lsn(0x10)).unwrap();
    w.append(Lsn(0x11), b"B").unwrap();
    w.append(Lsn(0x12), &relation(7)).unwrap();
    w.append(Lsn(0x13), b"C").unwrap();
    // 3 transactions of ~50 kB: the segment rotates after the second.
    for t in 0..3u64 {
        let base = 0x1000 * (t + 1);
        transaction(&mut w, base, 500, base + 0x800);
    }
    w.sync().await.unwrap();
    assert_eq!(w.durable(), Lsn(0x3800));
    let starts = segments::list(&cdc_dir(dir.path())).unwrap();
    assert_eq!(starts, [Lsn(0x10), Lsn(0x2800)]);
    // Reading from a position inside the second segment starts there, with
    // the relation first.
    let mut reader = StoreReader::open(dir.path(), Lsn(0x3000), None).unwrap();
    let records = read_all(&mut reader).await;
    assert_eq!(records[0], (Lsn(0x12), Kind::Head));
    assert_eq!(records[1], (Lsn(0x3000), Kind::Begin));
    assert_eq!(records.last(), Some(&(Lsn(0x3800), Kind::Commit)));
    // From the start: every record once (the head copy aside).
    let mut reader = StoreReader::open(dir.path(), Lsn::INVALID, None).unwrap();
    let all = read_all(&mut reader).await;
    assert_eq!(all.iter().filter(|(_, k)| *k == Kind::Commit).count(), 4);
    assert_eq!(all.len(), 3 + 3 * 502 + 1);
    // Everything up to the second segment's start applied: the first goes.
    let pruned = segments::prune(&cdc_dir(dir.path()), Lsn(0x2800), false).unwrap();
    assert_eq!(pruned.len(), 1);
    assert_eq!(segments::list(&cdc_dir(dir.path())).unwrap(), [Lsn(0x2800)]);
}

#[tokio::test]
async fn a_torn_tail_is_cut_with_its_transaction_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = StoreWriter::open(dir.path(), Plugin::Pgoutput, 1 << 30, Lsn(0x10)).unwrap();
        transaction(&mut w, 0x100, 3, 0x200);
        // A transaction cut by the crash, then half a record.
        w.append(Lsn(0x300), b"B").unwrap();
        w.append(Lsn(0x301), &[b'I'; 100]).unwrap();
        w.write_out().unwrap();
    }
    let path = cdc_dir(dir.path()).join(segments::file_name(Lsn(0x10)));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&[50, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);
    let w = StoreWriter::open(dir.path(), Plugin::Pgoutput, 1 << 30, Lsn(0x10)).unwrap();
    assert_eq!(w.resume_position(), Lsn(0x200));
    drop(w);
    let mut reader = StoreReader::open(dir.path(), Lsn::INVALID, None).unwrap();
    let records = read_all(&mut reader).await;
    assert_eq!(records.len(), 5);
    assert_eq!(records.last(), Some(&(Lsn(0x200), Kind::Commit)));
}

#[tokio::test]
async fn the_reader_follows_the_writer_live_without_waiting_for_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StoreWriter::open(dir.path(), Plugin::TestDecoding, 1 << 30, Lsn(0x10)).unwrap();
    let mut reader = StoreReader::open(dir.path(), Lsn::INVALID, Some(w.subscribe())).unwrap();
    assert!(reader.caught_up());
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(r) = reader.next().await.unwrap() {
            got.push(r.data);
        }
        got
    });
    w.append(Lsn(0x20), b"BEGIN 1").unwrap();
    w.append(Lsn(0x21), b"table public.t: INSERT: id[integer]:1")
        .unwrap();
    w.append(Lsn(0x30), b"COMMIT 1").unwrap();
    assert_eq!(w.durable(), Lsn(0x10), "nothing fsynced yet");
    drop(w);
    let got = consumer.await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].as_ref(), b"COMMIT 1");
}

#[tokio::test]
async fn group_commit_syncs_per_batch_not_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StoreWriter::open(dir.path(), Plugin::Pgoutput, 1 << 30, Lsn(0x10)).unwrap();
    w.sync().await.unwrap();
    for t in 0..100u64 {
        transaction(&mut w, 0x1000 * (t + 1), 2, 0x1000 * (t + 1) + 0x10);
    }
    // A hundred commits gathered, handed to the file in one write (not one
    // per commit), none fsynced one by one.
    let segment = cdc_dir(dir.path()).join(segments::file_name(Lsn(0x10)));
    let on_file = || std::fs::metadata(&segment).unwrap().len();
    assert!(w.unpublished());
    assert_eq!(on_file(), 0, "nothing written per commit");
    w.publish().unwrap();
    assert!(!w.unpublished());
    assert!(on_file() > 0);
    assert_eq!(w.durable(), Lsn(0x10));
    assert_eq!(w.written(), Lsn(0x1000 * 100 + 0x10));
    w.sync().await.unwrap();
    assert_eq!(w.durable(), w.written());
}

/// A transaction's commit is found ahead of the reader, payloads skipped,
/// waiting for the writer to store it; the reader then reads it all.
#[tokio::test]
async fn a_fork_finds_where_the_transaction_commits_ahead_of_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StoreWriter::open(dir.path(), Plugin::TestDecoding, 1 << 30, Lsn(0x10)).unwrap();
    let mut reader = StoreReader::open(dir.path(), Lsn::INVALID, Some(w.subscribe())).unwrap();
    w.append(Lsn(0x20), b"BEGIN 1").unwrap();
    for i in 0..1000u64 {
        w.append(Lsn(0x21 + i), &[b'I'; 1000]).unwrap();
    }
    w.write_out().unwrap();
    assert_eq!(reader.next().await.unwrap().unwrap().kind, Kind::Begin);
    let mut ahead = reader.fork().unwrap();
    let finder = tokio::spawn(async move { ahead.next_commit().await.unwrap() });
    // Not stored yet: the fork waits for it.
    tokio::task::yield_now().await;
    assert!(!finder.is_finished());
    w.append(Lsn(0x900), b"COMMIT 1").unwrap();
    w.append(Lsn(0x901), b"BEGIN 2").unwrap();
    w.append(Lsn(0x990), b"COMMIT 2").unwrap();
    w.publish().unwrap();
    assert_eq!(finder.await.unwrap(), Some(Lsn(0x900)));
    // The reader it was forked from still reads every record of it.
    let mut rows = 0;
    loop {
        let r = reader.next().await.unwrap().unwrap();
        if r.kind == Kind::Commit {
            assert_eq!(r.lsn, Lsn(0x900));
            break;
        }
        rows += 1;
    }
    assert_eq!(rows, 1000);
    // Moved to the reader's position, the fork finds the next commit; with
    // the writer gone and nothing more stored, none.
    let mut ahead = reader.fork().unwrap();
    assert_eq!(ahead.next_commit().await.unwrap(), Some(Lsn(0x990)));
    drop(w);
    assert_eq!(ahead.next_commit().await.unwrap(), None);
    ahead.move_to(&reader).unwrap();
    assert_eq!(ahead.next_commit().await.unwrap(), Some(Lsn(0x990)));
}

/// A message larger than the write buffer goes to the file on its own,
/// between small ones, and readers see it only whole.
#[tokio::test]
async fn a_large_message_is_stored_whole_between_small_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = StoreWriter::open(dir.path(), Plugin::TestDecoding, 1 << 30, Lsn(0x10)).unwrap();
    let mut reader = StoreReader::open(dir.path(), Lsn::INVALID, Some(w.subscribe())).unwrap();
    let large: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    w.append(Lsn(0x20), b"BEGIN 1").unwrap();
    w.append(Lsn(0x21), b"table public.t: INSERT: id[integer]:1")
        .unwrap();
    w.append(Lsn(0x22), &large).unwrap();
    // Written, not yet told: the reader has nothing half-way.
    assert!(reader.caught_up());
    w.append(Lsn(0x30), b"COMMIT 1").unwrap();
    drop(w);
    let mut got = Vec::new();
    while let Some(r) = reader.next().await.unwrap() {
        got.push(r);
    }
    assert_eq!(got.len(), 4);
    assert_eq!((got[2].lsn, got[2].data.as_ref()), (Lsn(0x22), &large[..]));
    assert_eq!(got[3].kind, Kind::Commit);
}
