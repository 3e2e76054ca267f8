//! What in a work directory belongs to pgcopydb, and nothing else: a fresh
//! run or `--restart` deletes only the entries pgcopydb itself creates, and
//! a directory that holds other things and no run is refused, so that a
//! mistyped `--dir` never costs anyone their files.

use std::fs;
use std::io;
use std::path::Path;

use anyhow::{Context, Result};

use super::private::TEMP_PREFIX;
use crate::error::Failure;
use crate::stream::store::segments::{self, CDC_DIR};

pub const STATE_FILE: &str = "pgcopydb.db";
pub const DONE_FILE: &str = "done";
pub const LOCK_FILE: &str = "pgcopydb.pid";
/// Lock of a `pgcopydb snapshot` process holding a snapshot for this directory.
pub const SNAPSHOT_LOCK: &str = "pgcopydb.snapshot.pid";
pub const SNAPSHOT_FILE: &str = "snapshot";
/// The slot `snapshot --follow` created, for the `follow` after the copy.
pub const SNAPSHOT_SLOT_FILE: &str = "snapshot.slot";
/// The slot a run is creating, written before it is (see
/// `stream::follow::slot_intent`): kept by a fresh run or `--restart` of
/// the copy, as it names an object on the source only cleanup may drop.
pub const SLOT_INTENT_FILE: &str = "slot.intent";
pub const SUMMARY_FILE: &str = "summary.json";
pub const SCHEMA_DIR: &str = "schema";
pub const ROLES_FILE: &str = "roles.sql";

/// The files a run writes at the top of its directory (SQLite adds the
/// state's -wal, -shm and -journal files beside it).
const RUN_FILES: &[&str] = &[
    LOCK_FILE,
    STATE_FILE,
    "pgcopydb.db-wal",
    "pgcopydb.db-shm",
    "pgcopydb.db-journal",
    DONE_FILE,
    SNAPSHOT_FILE,
    SNAPSHOT_SLOT_FILE,
    SLOT_INTENT_FILE,
    SNAPSHOT_LOCK,
    SUMMARY_FILE,
    crate::report::in_flight::IN_FLIGHT_FILE,
];

/// The files a run writes in `schema/`.
const SCHEMA_FILES: &[&str] = &[
    "schema.dump",
    "pre-filtered.list",
    "post-filtered.list",
    ROLES_FILE,
];

/// Whether a file at the top of a work directory is one pgcopydb writes.
fn is_run_file(name: &str) -> bool {
    RUN_FILES.contains(&name)
        || name.starts_with(TEMP_PREFIX)
        // `compare schema|data --dir` saves its report there.
        || (name.starts_with("compare-") && name.ends_with(".json"))
}

fn is_schema_file(name: &str) -> bool {
    SCHEMA_FILES.contains(&name) || name.starts_with(TEMP_PREFIX)
}

/// Whether `dir` holds the state of a pgcopydb run.
pub fn holds_run(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(STATE_FILE)).is_ok_and(|m| m.is_file())
}

/// The first entry of `dir` pgcopydb did not write (looking into `schema/`),
/// as a path relative to `dir`; None when everything there is ours.
pub fn first_foreign_entry(dir: &Path) -> Result<Option<String>> {
    for (name, is_dir) in entries(dir)? {
        if is_dir && name == SCHEMA_DIR {
            for (inner, inner_is_dir) in entries(&dir.join(SCHEMA_DIR))? {
                if inner_is_dir || !is_schema_file(&inner) {
                    return Ok(Some(format!("{SCHEMA_DIR}/{inner}")));
                }
            }
        } else if is_dir && name == CDC_DIR {
            for (inner, inner_is_dir) in entries(&dir.join(CDC_DIR))? {
                if inner_is_dir || segments::parse_name(&inner).is_none() {
                    return Ok(Some(format!("{CDC_DIR}/{inner}")));
                }
            }
        } else if is_dir || !is_run_file(&name) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Refuse a directory that holds entries of someone else's and no run.
pub fn refuse_foreign(dir: &Path) -> Result<()> {
    if holds_run(dir) {
        return Ok(());
    }
    match first_foreign_entry(dir)? {
        None => Ok(()),
        Some(entry) => Err(foreign(dir, &entry).into()),
    }
}

pub fn foreign(dir: &Path, entry: &str) -> Failure {
    Failure::state(format!(
        "--dir {} is not empty and holds no pgcopydb run (it has {entry}): pgcopydb \
         deletes nothing it did not write, so give an empty or new directory",
        dir.display()
    ))
}

/// Delete what a run wrote in `dir` — only the entries pgcopydb creates —
/// except those `keep` names. Anything else stays where it is.
pub fn clear_run(dir: &Path, keep: &dyn Fn(&str) -> bool) -> Result<()> {
    for (name, is_dir) in entries(dir)? {
        if keep(&name) {
            continue;
        }
        let path = dir.join(&name);
        if is_dir && name == SCHEMA_DIR {
            for (inner, inner_is_dir) in entries(&path)? {
                if !inner_is_dir && is_schema_file(&inner) {
                    remove(&path.join(inner))?;
                }
            }
            // Left in place when it holds something of the user's.
            let _ = fs::remove_dir(&path);
        } else if is_dir && name == CDC_DIR {
            // The change store's segments (named by their position).
            for (inner, inner_is_dir) in entries(&path)? {
                if !inner_is_dir && segments::parse_name(&inner).is_some() {
                    remove(&path.join(inner))?;
                }
            }
            let _ = fs::remove_dir(&path);
        } else if !is_dir && is_run_file(&name) {
            remove(&path)?;
        } else {
            tracing::warn!(
                "leaving {} in place: pgcopydb did not write it",
                path.display()
            );
        }
    }
    Ok(())
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The names in `dir` and whether each is a directory (a link is not: it is
/// never followed). A missing directory is empty.
pub fn entries(dir: &Path) -> Result<Vec<(String, bool)>> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious.txt"), "mine").unwrap();
        fs::create_dir_all(dir.path().join("docs")).unwrap();
        fs::create_dir_all(dir.path().join("schema")).unwrap();
        fs::write(dir.path().join("schema/mine.txt"), "mine").unwrap();
        dir
    }

    #[test]
    fn a_users_directory_is_refused_and_never_emptied() {
        let dir = user_dir();
        let err = refuse_foreign(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("holds no pgcopydb run (it has docs)"));
        // Even told to clear it, only our own names would go.
        clear_run(dir.path(), &|_| false).unwrap();
        assert!(dir.path().join("precious.txt").exists());
        assert!(dir.path().join("docs").is_dir());
        assert!(dir.path().join("schema/mine.txt").exists());
    }

    #[test]
    fn a_runs_own_files_are_cleared_and_the_users_kept() {
        let dir = user_dir();
        for f in [
            STATE_FILE,
            "pgcopydb.db-wal",
            SUMMARY_FILE,
            "compare-data.json",
        ] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        fs::write(dir.path().join("schema/schema.dump"), "").unwrap();
        refuse_foreign(dir.path()).unwrap();
        clear_run(dir.path(), &|n| n == SUMMARY_FILE).unwrap();
        let mut left: Vec<String> = entries(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        left.sort();
        assert_eq!(left, ["docs", "precious.txt", "schema", SUMMARY_FILE]);
        assert!(!dir.path().join("schema/schema.dump").exists());
        assert!(dir.path().join("schema/mine.txt").exists());
    }

    #[test]
    fn a_directory_of_only_our_files_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        // `pgcopydb snapshot --dir` ran first.
        fs::write(dir.path().join(SNAPSHOT_FILE), "id").unwrap();
        fs::write(dir.path().join(SNAPSHOT_LOCK), "1").unwrap();
        refuse_foreign(dir.path()).unwrap();
        refuse_foreign(&dir.path().join("missing")).unwrap();
    }
}
