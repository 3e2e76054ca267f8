//! The instance-level work directory of `--all-databases`: it holds the
//! roles dump, the consolidated summary, and one ordinary work directory
//! per database, `<dir>/<datname>/`, so that each database resumes on its own.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Failure;
use crate::workdir::contents::{self, LOCK_FILE, ROLES_FILE, SUMMARY_FILE};
use crate::workdir::private::{create_private_dir, TEMP_PREFIX};
use crate::workdir::{has_unfinished_run, Lock};

/// The instance directory, locked against a second run for as long as it lives.
pub struct InstanceDir {
    pub root: PathBuf,
    _lock: Lock,
}

impl InstanceDir {
    /// Create and lock the directory. `--restart` empties it of what runs
    /// wrote; a fresh run refuses a directory where any database has an
    /// unfinished run, and any run one that holds something not of ours.
    pub fn open(root: &Path, restart: bool, resume: bool, databases: &[String]) -> Result<Self> {
        create_private_dir(root)?;
        if let Some(entry) = first_foreign_entry(root)? {
            return Err(contents::foreign(root, &entry).into());
        }
        let dir = InstanceDir {
            root: root.to_path_buf(),
            _lock: Lock::take(&root.join(LOCK_FILE))?,
        };
        if restart {
            for (name, is_dir) in contents::entries(root)? {
                let path = root.join(&name);
                if is_dir {
                    contents::clear_run(&path, &|_| false)?;
                    // Left in place when it holds something of the user's.
                    let _ = std::fs::remove_dir(&path);
                } else if is_instance_file(&name) && name != LOCK_FILE {
                    std::fs::remove_file(&path)?;
                }
            }
        } else if !resume {
            let unfinished: Vec<&String> = databases
                .iter()
                .filter(|d| has_unfinished_run(&dir.database(d)))
                .collect();
            if let Some(first) = unfinished.first() {
                return Err(Failure::state(format!(
                    "work directory {} holds an unfinished run of database {first} ({} in all): \
                     use --resume to continue it, or --restart to start over",
                    root.display(),
                    unfinished.len()
                ))
                .into());
            }
        }
        Ok(dir)
    }

    /// The work directory of one database.
    pub fn database(&self, name: &str) -> PathBuf {
        self.root.join(dir_name(name))
    }

    pub fn roles_file(&self) -> PathBuf {
        self.root.join(ROLES_FILE)
    }

    pub fn summary_file(&self) -> PathBuf {
        self.root.join(SUMMARY_FILE)
    }
}

/// The files the instance run writes at the top of its directory.
fn is_instance_file(name: &str) -> bool {
    [LOCK_FILE, ROLES_FILE, SUMMARY_FILE].contains(&name) || name.starts_with(TEMP_PREFIX)
}

/// The first entry of the instance directory that is neither one of its
/// files nor a database's work directory (one that holds a run, or only
/// what runs write).
fn first_foreign_entry(root: &Path) -> Result<Option<String>> {
    for (name, is_dir) in contents::entries(root)? {
        if is_dir {
            let sub = root.join(&name);
            if contents::holds_run(&sub) {
                continue;
            }
            if let Some(inner) = contents::first_foreign_entry(&sub)? {
                return Ok(Some(format!("{name}/{inner}")));
            }
        } else if !is_instance_file(&name) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// A database name as a directory name: a name may hold any character but
/// NUL, so `/`, `%`, control characters and a leading dot are %-escaped.
pub fn dir_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c == '/' || c == '%' || c.is_control() || (i == 0 && c == '.') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dir_name;

    #[test]
    fn database_names_make_safe_directory_names() {
        assert_eq!(dir_name("My DB"), "My DB");
        assert_eq!(dir_name("a/b"), "a%2Fb");
        assert_eq!(dir_name(".."), "%2E.");
        assert_eq!(dir_name("50%"), "50%25");
    }
}
