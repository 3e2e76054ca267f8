//! Appending received messages to the store, with group commit.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::sync::watch;

use super::record::{self, classify, relation_oid, Kind};
use super::segments::{self, cdc_dir};
use super::{Written, SYNC_BYTES, SYNC_INTERVAL};
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;
use crate::workdir::private::{create_new_private, create_private_dir, open_existing_nofollow};

/// Bytes gathered before they are handed to the file (and to readers).
const WRITE_CHUNK: usize = 256 << 10;
/// Commits gathered up to this many bytes are handed over together: one
/// `write` (and one wake-up of the reader) per burst of small transactions
/// instead of one per commit, which was an eighth of the follower's CPU
/// draining a backlog of small transactions. The receiver hands over the
/// rest as soon as the stream has nothing more ready ([`StoreWriter::publish`]),
/// so a transaction waits for no later one.
const PUBLISH_AT: usize = 32 << 10;

pub struct StoreWriter {
    dir: PathBuf,
    plugin: Plugin,
    limit: u64,
    file: File,
    segment: Lsn,
    /// Bytes of the segment in the file.
    written: u64,
    pending: Vec<u8>,
    /// pgoutput relations seen, by OID: repeated at each segment's head.
    relations: BTreeMap<u32, (Lsn, Bytes)>,
    in_transaction: bool,
    /// A commit was appended that readers have not been handed yet.
    unpublished: bool,
    /// End of the last commit appended, and of the last one in the file.
    last_commit: Lsn,
    written_commit: Lsn,
    durable: Lsn,
    unsynced: u64,
    last_sync: Instant,
    /// Fsyncs so far (group commit: per batch, not per change).
    syncs: u64,
    publish: watch::Sender<Written>,
}

impl StoreWriter {
    /// Open the store of `workdir` for appending, creating it to start after
    /// `start` when empty. A torn record at the end of the last segment, and
    /// the unfinished transaction before it, are cut off.
    pub fn open(workdir: &Path, plugin: Plugin, limit: u64, start: Lsn) -> Result<StoreWriter> {
        let dir = cdc_dir(workdir);
        create_private_dir(&dir)?;
        let starts = segments::list(&dir)?;
        let (segment, file, written, relations, last_commit) = match starts.last() {
            None => {
                let file = new_segment(&dir, start)?;
                (start, file, 0, BTreeMap::new(), start)
            }
            Some(&last) => {
                let path = dir.join(segments::file_name(last));
                let file = open_existing_nofollow(&path)
                    .with_context(|| format!("opening {}", path.display()))?;
                let found = recover(&file, last, &path)?;
                (last, file, found.good, found.relations, found.last_commit)
            }
        };
        let (publish, _) = watch::channel(Written {
            segment,
            offset: written,
            closed: false,
        });
        Ok(StoreWriter {
            dir,
            plugin,
            limit,
            file,
            segment,
            written,
            pending: Vec::with_capacity(WRITE_CHUNK),
            relations,
            in_transaction: false,
            unpublished: false,
            last_commit,
            written_commit: last_commit,
            durable: last_commit,
            unsynced: 0,
            last_sync: Instant::now(),
            syncs: 0,
            publish,
        })
    }

    /// Where receiving resumes: the end of the last stored commit.
    pub fn resume_position(&self) -> Lsn {
        self.last_commit
    }

    /// The end of the last commit fsynced: what the slot may be told is flushed.
    pub fn durable(&self) -> Lsn {
        self.durable
    }

    /// The end of the last commit handed to the file (not yet fsynced).
    pub fn written(&self) -> Lsn {
        self.written_commit
    }

    /// Readers follow this.
    pub fn subscribe(&self) -> watch::Receiver<Written> {
        self.publish.subscribe()
    }

    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Append one plugin message. A commit is handed to the file (and
    /// readers) once [`PUBLISH_AT`] bytes are gathered, or at the next
    /// [`StoreWriter::publish`] or [`StoreWriter::write_out`].
    pub fn append(&mut self, lsn: Lsn, data: &[u8]) -> Result<()> {
        let kind = classify(self.plugin, data);
        if data.len() < WRITE_CHUNK {
            record::encode(&mut self.pending, lsn, kind, data);
        } else {
            // Straight to the file after its header: gathered with the
            // rest, a large value would cost its size once more, and the
            // buffer would keep that size for the rest of the run.
            record::encode_header(&mut self.pending, lsn, kind, data);
            self.write_pending()?;
            self.write_bytes(data)?;
        }
        match kind {
            Kind::Begin => self.in_transaction = true,
            Kind::Commit => {
                self.in_transaction = false;
                self.unpublished = true;
                self.last_commit = self.last_commit.max(lsn);
            }
            Kind::Relation => {
                if let Some(oid) = relation_oid(data) {
                    self.relations
                        .insert(oid, (lsn, Bytes::copy_from_slice(data)));
                }
            }
            Kind::Other | Kind::Head => {}
        }
        if kind == Kind::Commit && self.written + self.pending.len() as u64 >= self.limit {
            self.rotate()?;
        } else if self.pending.len() >= WRITE_CHUNK
            || (kind == Kind::Commit && self.pending.len() >= PUBLISH_AT)
        {
            self.write_out()?;
        }
        Ok(())
    }

    /// Commits are gathered that readers have not been handed yet.
    pub fn unpublished(&self) -> bool {
        self.unpublished && !self.in_transaction
    }

    /// Hand the gathered commits to the file and to readers, when there are.
    pub fn publish(&mut self) -> Result<()> {
        if self.unpublished() {
            self.write_out()?;
        }
        Ok(())
    }

    /// Hand what is gathered to the file and tell readers.
    pub fn write_out(&mut self) -> Result<()> {
        self.write_pending()?;
        if !self.in_transaction {
            self.written_commit = self.last_commit;
            self.unpublished = false;
        }
        self.publish.send_replace(Written {
            segment: self.segment,
            offset: self.written,
            closed: false,
        });
        Ok(())
    }

    /// Hand what is gathered to the file, telling no reader: it may end
    /// inside a record.
    fn write_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let written = self.write_bytes(&pending);
        self.pending = pending;
        self.pending.clear();
        written
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(bytes)
            .with_context(|| format!("writing to {}", self.dir.display()))?;
        self.written += bytes.len() as u64;
        self.unsynced += bytes.len() as u64;
        Ok(())
    }

    /// Whether group commit calls for an fsync now.
    pub fn sync_due(&self) -> bool {
        let unsynced = self.unsynced + self.pending.len() as u64;
        (unsynced > 0 || self.written_commit > self.durable)
            && (self.last_sync.elapsed() >= SYNC_INTERVAL || unsynced >= SYNC_BYTES)
    }

    /// Start an fsync of what is written so far, off the async thread; the
    /// future yields the position it makes durable, to hand to
    /// [`StoreWriter::synced`]. Appending may go on meanwhile.
    pub fn start_sync(&mut self) -> Result<impl Future<Output = Result<Lsn>> + Send + 'static> {
        self.write_out()?;
        let file = self
            .file
            .try_clone()
            .context("duplicating a store file handle")?;
        let lsn = self.written_commit;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        self.syncs += 1;
        Ok(async move {
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .context("fsync task")?
                .context("fsync of the change store")?;
            Ok(lsn)
        })
    }

    pub fn synced(&mut self, lsn: Lsn) {
        self.durable = self.durable.max(lsn);
    }

    /// Write out and fsync now (at a flush request or before stopping).
    pub async fn sync(&mut self) -> Result<Lsn> {
        let lsn = self.start_sync()?.await?;
        self.synced(lsn);
        Ok(self.durable)
    }

    /// Close the full segment (fsynced) and start the next one after the
    /// last commit, headed by the relations known so far.
    fn rotate(&mut self) -> Result<()> {
        self.write_out()?;
        self.file.sync_data().context("fsync of the change store")?;
        self.syncs += 1;
        self.durable = self.durable.max(self.written_commit);
        let start = self.last_commit;
        let mut file = new_segment(&self.dir, start)?;
        let mut head = Vec::new();
        for (lsn, data) in self.relations.values() {
            record::encode(&mut head, *lsn, Kind::Head, data);
        }
        file.write_all(&head).context("writing a segment's head")?;
        self.file = file;
        self.segment = start;
        self.written = 0;
        self.unsynced = head.len() as u64;
        self.written += head.len() as u64;
        self.publish.send_replace(Written {
            segment: start,
            offset: self.written,
            closed: false,
        });
        Ok(())
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        // Readers get the commits gathered so far (not durable: the slot
        // sends them again if the file loses them).
        if let Err(e) = self.publish() {
            tracing::debug!("handing the last commits to the store's readers: {e:#}");
        }
        let mut last = *self.publish.borrow();
        last.closed = true;
        self.publish.send_replace(last);
    }
}

fn new_segment(dir: &Path, start: Lsn) -> Result<File> {
    let path = dir.join(segments::file_name(start));
    let file = create_new_private(&path).with_context(|| format!("creating {}", path.display()))?;
    // The new name must survive a crash as well as its contents.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync of {}", dir.display()))?;
    Ok(file)
}

struct Recovered {
    /// Bytes kept: up to the end of the last commit (or of the head).
    good: u64,
    relations: BTreeMap<u32, (Lsn, Bytes)>,
    last_commit: Lsn,
}

/// Scan the last segment; cut off a torn record and the unfinished
/// transaction before it, so that no reader ever decodes either.
fn recover(file: &File, start: Lsn, path: &Path) -> Result<Recovered> {
    let mut input = BufReader::new(file.try_clone()?);
    input.seek(SeekFrom::Start(0))?;
    let (mut offset, mut good, mut last_commit) = (0u64, 0u64, start);
    let mut relations = BTreeMap::new();
    let mut pending_relations = Vec::new();
    let mut torn = None;
    let mut in_head = true;
    loop {
        match record::read(&mut input) {
            Ok(None) => break,
            Ok(Some((rec, size))) => {
                offset += size;
                match rec.kind {
                    Kind::Head if in_head => {
                        good = offset;
                        if let Some(oid) = relation_oid(&rec.data) {
                            relations.insert(oid, (rec.lsn, rec.data));
                        }
                    }
                    Kind::Relation | Kind::Head => pending_relations.push(rec),
                    Kind::Commit => {
                        in_head = false;
                        good = offset;
                        last_commit = rec.lsn.max(last_commit);
                        for r in pending_relations.drain(..) {
                            if let Some(oid) = relation_oid(&r.data) {
                                relations.insert(oid, (r.lsn, r.data));
                            }
                        }
                    }
                    Kind::Begin | Kind::Other => in_head = false,
                }
            }
            Err(e) => {
                torn = Some(e);
                break;
            }
        }
    }
    let length = file.metadata()?.len();
    if good < length {
        match &torn {
            Some(e) => tracing::warn!(
                "{}: cutting off a torn record ({e}) and the unfinished transaction before it \
                 ({} bytes); they are received again from the slot",
                path.display(),
                length - good
            ),
            None => tracing::info!(
                "{}: cutting off an unfinished transaction ({} bytes); it is received again",
                path.display(),
                length - good
            ),
        }
        file.set_len(good)?;
        file.sync_all()?;
    }
    let mut file = file;
    file.seek(SeekFrom::Start(good))?;
    Ok(Recovered {
        good,
        relations,
        last_commit,
    })
}
