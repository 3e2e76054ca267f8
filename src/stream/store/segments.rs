//! The segment files of the store: naming, listing, and pruning (only files
//! of our own naming are ever touched).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::stream::lsn::Lsn;

/// The store's directory inside the work directory.
pub const CDC_DIR: &str = "cdc";
const SUFFIX: &str = ".seg";

pub fn cdc_dir(workdir: &Path) -> PathBuf {
    workdir.join(CDC_DIR)
}

pub fn file_name(start: Lsn) -> String {
    format!("{:016X}{SUFFIX}", start.0)
}

/// The start position of a segment file of ours, None for any other name.
pub fn parse_name(name: &str) -> Option<Lsn> {
    let hex = name.strip_suffix(SUFFIX)?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(Lsn)
}

/// Segments in `dir`, in order of their start position.
pub fn list(dir: &Path) -> Result<Vec<Lsn>> {
    let mut starts: Vec<Lsn> = crate::workdir::contents::entries(dir)?
        .into_iter()
        .filter(|(_, is_dir)| !is_dir)
        .filter_map(|(name, _)| parse_name(&name))
        .collect();
    starts.sort();
    Ok(starts)
}

/// The segment to start reading at to see every transaction ending after
/// `from`: the last one starting at or before it (else the first).
pub fn holding(starts: &[Lsn], from: Lsn) -> Option<Lsn> {
    starts
        .iter()
        .rev()
        .find(|s| **s <= from)
        .or_else(|| starts.first())
        .copied()
}

/// Segments every transaction of which ended at or before `applied`: all
/// but the last, whose successor starts at or before `applied`.
pub fn applied(starts: &[Lsn], applied: Lsn) -> Vec<Lsn> {
    starts
        .windows(2)
        .filter_map(|w| match w {
            [this, next] if *next <= applied => Some(*this),
            _ => None,
        })
        .collect()
}

/// Delete (or with `dry_run` only list) the segments fully applied.
pub fn prune(dir: &Path, applied_lsn: Lsn, dry_run: bool) -> Result<Vec<PathBuf>> {
    let done = applied(&list(dir)?, applied_lsn);
    let mut paths = Vec::new();
    for start in done {
        let path = dir.join(file_name(start));
        if !dry_run {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_ignored() {
        assert_eq!(
            parse_name(&file_name(Lsn(0x016B_3748))),
            Some(Lsn(0x016B_3748))
        );
        for other in [
            "0000000000000000.seg.bak",
            "notes.seg",
            "000000000000000g.seg",
            "x",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn reading_starts_at_the_segment_holding_the_position() {
        let s = [Lsn(10), Lsn(50), Lsn(90)];
        assert_eq!(holding(&s, Lsn(49)), Some(Lsn(10)));
        assert_eq!(holding(&s, Lsn(50)), Some(Lsn(50)));
        assert_eq!(holding(&s, Lsn(5)), Some(Lsn(10)));
        assert_eq!(holding(&[], Lsn(5)), None);
        assert_eq!(applied(&s, Lsn(50)), [Lsn(10)]);
        assert_eq!(applied(&s, Lsn(1000)), [Lsn(10), Lsn(50)]);
        assert!(applied(&s, Lsn(20)).is_empty());
    }
}
