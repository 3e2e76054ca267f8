//! What the servers say our sessions are doing right now: the COPYs in
//! flight (`pg_stat_progress_copy`, PostgreSQL 14+) and the index builds
//! (`pg_stat_progress_create_index`). The sampler of the data phase
//! (`clone::data::sampler`) fills one [`InFlight`] a second; the live
//! display and `--metrics-addr` read it in the process, and `list progress`
//! from the file it is saved to in the work directory.

use std::path::{Path, PathBuf};

use crate::report::size::pg_size_pretty;
use serde::{Deserialize, Serialize};

/// The file in the work directory holding the latest sample.
pub const IN_FLIGHT_FILE: &str = "in-flight.json";

/// One sample of both servers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InFlight {
    /// Seconds since the Unix epoch when it was taken.
    pub sampled_at: f64,
    pub copies: Vec<CopyInFlight>,
    pub indexes: Vec<IndexBuild>,
}

/// One COPY of ours, as its server reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyInFlight {
    /// `source` (a `COPY TO`) or `target` (a `COPY FROM`).
    pub side: String,
    pub table: String,
    pub bytes_processed: i64,
    /// The size of the input when the server knows it; a COPY from a client
    /// stream has none.
    pub bytes_total: Option<i64>,
    pub tuples_processed: i64,
}

/// One index build of ours on the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexBuild {
    /// The index, when the build can be matched to one of the catalog.
    pub index: Option<String>,
    pub table: String,
    /// As `pg_stat_progress_create_index` names it ("building index: scanning table"...).
    pub phase: String,
    pub blocks_done: i64,
    pub blocks_total: i64,
    pub tuples_done: i64,
    pub tuples_total: i64,
}

impl InFlight {
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty() && self.indexes.is_empty()
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(IN_FLIGHT_FILE)
    }

    /// Save the sample for `list progress` (0600, replaced atomically).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec(self)?;
        crate::workdir::private::write_private_file(&Self::path(dir), &json)
    }

    /// The sample of the run working in `dir`, or None when no run is
    /// working there now: a sample left by a run that ended or died says
    /// nothing about the present.
    pub fn load_live(dir: &Path) -> Option<InFlight> {
        if !crate::workdir::lock::is_held(&dir.join(crate::workdir::contents::LOCK_FILE)) {
            return None;
        }
        let file = crate::workdir::private::open_existing_nofollow(&Self::path(dir)).ok()?;
        serde_json::from_reader(std::io::BufReader::new(file)).ok()
    }

    /// Remove the saved sample once the work it described is over.
    pub fn clear(dir: &Path) {
        let _ = std::fs::remove_file(Self::path(dir));
    }

    /// One line per COPY and per index build, for people.
    pub fn lines(&self) -> Vec<String> {
        let copies = self.copies.iter().map(|c| {
            let total = c
                .bytes_total
                .map(|t| format!(" of {}", pg_size_pretty(t)))
                .unwrap_or_default();
            format!(
                "copy {} ({}): {}{total}, {} rows",
                c.table,
                c.side,
                pg_size_pretty(c.bytes_processed),
                c.tuples_processed
            )
        });
        let indexes = self.indexes.iter().map(|i| {
            format!(
                "index {} on {}: {}, blocks {}/{}, tuples {}/{}",
                i.index.as_deref().unwrap_or("(unnamed)"),
                i.table,
                i.phase,
                i.blocks_done,
                i.blocks_total,
                i.tuples_done,
                i.tuples_total
            )
        });
        copies.chain(indexes).collect()
    }
}

/// `doc` (the JSON of `list progress`) with an `in_flight` key: the latest
/// sample of the run working in `dir`, or null when none is.
pub fn with_in_flight(mut doc: serde_json::Value, dir: &Path) -> serde_json::Value {
    if let Some(map) = doc.as_object_mut() {
        let sample = InFlight::load_live(dir);
        map.insert(
            "in_flight".to_string(),
            serde_json::to_value(sample).unwrap_or_default(),
        );
    }
    doc
}

/// The text of `list progress`: what the servers say is in flight, under
/// the totals, when a run is working in `dir`.
pub fn print_live(dir: &Path) -> anyhow::Result<()> {
    let Some(sample) = InFlight::load_live(dir).filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    crate::report::stdout::println("in flight:")?;
    for line in sample.lines() {
        crate::report::stdout::println(format!("  {line}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_every_copy_and_build() {
        let sample = InFlight {
            sampled_at: 0.0,
            copies: vec![CopyInFlight {
                side: "target".into(),
                table: "public.t".into(),
                bytes_processed: 2048,
                bytes_total: None,
                tuples_processed: 10,
            }],
            indexes: vec![IndexBuild {
                index: None,
                table: "public.t".into(),
                phase: "building index: scanning table".into(),
                blocks_done: 3,
                blocks_total: 9,
                tuples_done: 0,
                tuples_total: 0,
            }],
        };
        assert_eq!(
            sample.lines(),
            vec![
                "copy public.t (target): 2048 bytes, 10 rows".to_string(),
                "index (unnamed) on public.t: building index: scanning table, blocks 3/9, tuples 0/0"
                    .to_string(),
            ]
        );
    }
}
