//! The instance-level work directory of `--all-databases`: it holds the
//! roles dump, the consolidated summary, and one ordinary work directory
//! per database, `<dir>/<datname>/`, so that each database resumes on its own.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Failure;
use crate::workdir::{has_unfinished_run, take_lock};

/// The instance directory, locked against a second run for as long as it lives.
pub struct InstanceDir {
    pub root: PathBuf,
    lock: PathBuf,
}

impl InstanceDir {
    /// Create and lock the directory. `--restart` empties it; a fresh run
    /// refuses a directory where any database has an unfinished run.
    pub fn open(root: &Path, restart: bool, resume: bool, databases: &[String]) -> Result<Self> {
        fs::create_dir_all(root)?;
        let lock = root.join("pgcopydb.pid");
        take_lock(&lock)?;
        let dir = InstanceDir {
            root: root.to_path_buf(),
            lock,
        };
        if restart {
            for entry in fs::read_dir(root)? {
                let path = entry?.path();
                if path == dir.lock {
                    continue;
                }
                if path.is_dir() {
                    fs::remove_dir_all(&path)?;
                } else {
                    fs::remove_file(&path)?;
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
        self.root.join("roles.sql")
    }

    pub fn summary_file(&self) -> PathBuf {
        self.root.join("summary.json")
    }
}

impl Drop for InstanceDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
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
