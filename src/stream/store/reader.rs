//! Reading the store back: from the segment holding a position, then every
//! later one, following a live writer (woken on each write) or, without
//! one, to the end of what is there.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::sync::watch;

use super::record::{self, Header, Kind, Record};
use super::segments::{self, cdc_dir};
use super::Written;
use crate::stream::lsn::Lsn;

pub struct StoreReader {
    dir: PathBuf,
    segment: Option<Lsn>,
    input: Option<BufReader<File>>,
    offset: u64,
    live: Option<watch::Receiver<Written>>,
}

/// Reads the header and skips the payload, within `room` bytes.
fn skip_payload(input: &mut BufReader<File>, room: u64) -> std::io::Result<Option<(Header, u64)>> {
    let Some(header) = record::read_header(&mut input.by_ref().take(room))? else {
        return Ok(None);
    };
    if header.size() > room {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a record is cut short",
        ));
    }
    input.seek_relative(i64::from(header.len))?;
    Ok(Some((header, header.size())))
}

impl StoreReader {
    /// Read every transaction ending after `from`, following `live` when a
    /// writer runs; without one, stop at the end of what is stored.
    pub fn open(
        workdir: &Path,
        from: Lsn,
        live: Option<watch::Receiver<Written>>,
    ) -> Result<StoreReader> {
        let dir = cdc_dir(workdir);
        let starts = segments::list(&dir)?;
        let mut reader = StoreReader {
            dir,
            segment: None,
            input: None,
            offset: 0,
            live,
        };
        if let Some(start) = segments::holding(&starts, from) {
            reader.enter(start)?;
        }
        Ok(reader)
    }

    fn enter(&mut self, start: Lsn) -> Result<()> {
        let path = self.dir.join(segments::file_name(start));
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        self.segment = Some(start);
        self.input = Some(BufReader::with_capacity(256 << 10, file));
        self.offset = 0;
        Ok(())
    }

    /// The segment after the current one, if one was created.
    fn next_segment(&self) -> Result<Option<Lsn>> {
        let starts = segments::list(&self.dir)?;
        Ok(match self.segment {
            None => starts.first().copied(),
            Some(cur) => starts.into_iter().find(|s| *s > cur),
        })
    }

    /// The next record; None at the end (the writer closed, or without a
    /// writer, the end of the last segment).
    pub async fn next(&mut self) -> Result<Option<Record>> {
        self.next_with(|input, room| record::read(&mut input.by_ref().take(room)))
            .await
    }

    /// The next record when the writer has already handed it over, in the
    /// segment being read; None when it would have to wait or move to the
    /// next segment ([`StoreReader::next`] does both). Only while following
    /// a writer: without one, `next` decides where the store ends.
    pub fn try_next(&mut self) -> Result<Option<Record>> {
        let (Some(limit), Some(_)) = (self.limit(), &self.live) else {
            return Ok(None);
        };
        let Some(input) = self.input.as_mut() else {
            return Ok(None);
        };
        if self.offset >= limit {
            return Ok(None);
        }
        match record::read(&mut input.by_ref().take(limit - self.offset)) {
            Ok(Some((item, size))) => {
                self.offset += size;
                Ok(Some(item))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e).context(format!(
                "reading segment {} of the change store",
                self.segment.unwrap_or_default()
            )),
        }
    }

    /// The LSN of the next commit record (the end of the commit, as every
    /// plugin streams it), waiting for the writer to store it; None when the
    /// store ends first. Reads headers only: the payloads on the way are
    /// skipped (and left to the reader that decodes them to check), so
    /// finding the commit of a transaction of any size costs no memory.
    pub async fn next_commit(&mut self) -> Result<Option<Lsn>> {
        loop {
            match self.next_with(skip_payload).await? {
                None => return Ok(None),
                Some(header) if header.kind == Kind::Commit => return Ok(Some(header.lsn)),
                Some(_) => {}
            }
        }
    }

    /// A second reader at this one's position, with its own file handle,
    /// following the same writer: it may read ahead of this one.
    pub fn fork(&self) -> Result<StoreReader> {
        let mut fork = StoreReader {
            dir: self.dir.clone(),
            segment: None,
            input: None,
            offset: 0,
            live: self.live.clone(),
        };
        fork.move_to(self)?;
        Ok(fork)
    }

    /// Go to where `other`, a reader of the same store, is.
    pub fn move_to(&mut self, other: &StoreReader) -> Result<()> {
        let Some(segment) = other.segment else {
            self.segment = None;
            self.input = None;
            self.offset = 0;
            return Ok(());
        };
        if self.segment != Some(segment) || self.input.is_none() {
            self.enter(segment)?;
        }
        let input = self.input.as_mut().context("no segment open")?;
        // Within the buffer when close ahead: no system call.
        let delta = i128::from(other.offset) - i128::from(self.offset);
        input
            .seek_relative(i64::try_from(delta).context("a segment offset out of range")?)
            .with_context(|| format!("seeking in segment {segment} of the change store"))?;
        self.offset = other.offset;
        Ok(())
    }

    /// The next item `read` takes from the segment (given the bytes that
    /// may be read), with the segments and the writer followed as for
    /// records.
    async fn next_with<T>(
        &mut self,
        mut read: impl FnMut(&mut BufReader<File>, u64) -> std::io::Result<Option<(T, u64)>>,
    ) -> Result<Option<T>> {
        loop {
            let limit = self.limit();
            if let (Some(input), Some(limit)) = (self.input.as_mut(), limit) {
                if self.offset < limit {
                    match read(input, limit - self.offset) {
                        Ok(Some((item, size))) => {
                            self.offset += size;
                            return Ok(Some(item));
                        }
                        Ok(None) => {}
                        // Without a writer a torn tail is the end (the
                        // writer cuts it when it next opens the store).
                        Err(_) if self.live.is_none() => return Ok(None),
                        Err(e) => {
                            return Err(e).context(format!(
                                "reading segment {} of the change store",
                                self.segment.unwrap_or_default()
                            ))
                        }
                    }
                }
            }
            // At the end of what may be read in this segment.
            match &self.live {
                None => match self.next_segment()? {
                    Some(next) => self.enter(next)?,
                    None => return Ok(None),
                },
                Some(rx) => {
                    let written = *rx.borrow();
                    let behind = self.segment.is_none_or(|s| s < written.segment);
                    if behind {
                        if let Some(next) = self.next_segment()? {
                            self.enter(next)?;
                            continue;
                        }
                    } else if written.closed && self.offset >= written.offset {
                        return Ok(None);
                    }
                    let rx = self.live.as_mut().context("no writer")?;
                    if rx.changed().await.is_err() {
                        // The writer is gone without saying so: read what is there.
                        self.live = None;
                    }
                }
            }
        }
    }

    /// Following a writer, everything it has written is read.
    pub fn caught_up(&self) -> bool {
        match (&self.live, self.segment) {
            (Some(rx), Some(segment)) => {
                let w = *rx.borrow();
                segment == w.segment && self.offset >= w.offset
            }
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// How far the current segment may be read: everything of a segment the
    /// writer left, up to its published offset in the one it writes.
    fn limit(&self) -> Option<u64> {
        let segment = self.segment?;
        match &self.live {
            None => Some(u64::MAX),
            Some(rx) => {
                let w = *rx.borrow();
                if w.segment == segment {
                    Some(w.offset)
                } else if segment < w.segment {
                    Some(u64::MAX)
                } else {
                    Some(0)
                }
            }
        }
    }
}
