//! Finding a `pg_dump`/`pg_restore` pair that fits both servers.
//!
//! The constraints come from how the tools are versioned:
//! - `pg_dump` N can only read servers of major version ≤ N;
//! - `pg_restore` must be at least as new as the `pg_dump` that wrote the
//!   archive (taking both from one bindir guarantees that);
//! - a `pg_restore` newer than the target may emit settings the target
//!   rejects (`pg_restore` 18 sends `SET transaction_timeout` to a 15 server).
//!
//! So the best pair has the target's major version when the target is at
//! least as new as the source, and otherwise the oldest one that can still
//! read the source.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Failure;

/// One PostgreSQL client installation holding both `pg_dump` and `pg_restore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTools {
    /// Canonical directory of the binaries (symlinks resolved, used to dedup).
    pub bindir: PathBuf,
    pub major: u32,
    /// Version as printed by `pg_dump --version`, e.g. `15.18` or `18beta1`.
    pub version: String,
    /// Set by [`choose`] when the pick is known to be imperfect (tools newer
    /// than the target); the caller should log it.
    pub warning: Option<String>,
}

impl PgTools {
    pub fn pg_dump(&self) -> PathBuf {
        self.bindir.join("pg_dump")
    }
    pub fn pg_restore(&self) -> PathBuf {
        self.bindir.join("pg_restore")
    }
    pub fn psql(&self) -> PathBuf {
        self.bindir.join("psql")
    }
    pub fn pg_dumpall(&self) -> PathBuf {
        self.bindir.join("pg_dumpall")
    }
}

/// Every client installation found on this machine, in order of preference
/// for equal versions: `$PG_CONFIG --bindir`, then `PATH`, then the usual
/// packaging locations.
pub fn discover() -> Vec<PgTools> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for dir in candidate_dirs() {
        let Some(tools) = probe(&dir) else { continue };
        if seen.insert(tools.bindir.clone()) {
            found.push(tools);
        }
    }
    found
}

fn candidate_dirs() -> Vec<PathBuf> {
    // An explicit choice of directory replaces the search entirely.
    if let Some(dir) = std::env::var_os("PGCOPYDB_PG_BINDIR") {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    if let Some(pg_config) = std::env::var_os("PG_CONFIG") {
        if let Ok(out) = command_without_secrets(Path::new(&pg_config))
            .arg("--bindir")
            .output()
        {
            if out.status.success() {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(versioned_dirs("/usr/lib/postgresql", "", "bin"));
    dirs.extend(versioned_dirs("/usr", "pgsql-", "bin"));
    dirs.extend(versioned_dirs("/opt/homebrew/opt", "postgresql@", "bin"));
    dirs
}

/// A probe of an installation inherits none of our secrets.
fn command_without_secrets(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for name in crate::schema::child::inherited_secrets() {
        cmd.env_remove(name);
    }
    cmd
}

/// `<parent>/<prefix>*/<sub>`, sorted so results do not depend on readdir order.
fn versioned_dirs(parent: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path().join(sub))
        .collect();
    dirs.sort();
    dirs
}

/// The installation in `dir`, if it has both tools and a readable version.
fn probe(dir: &Path) -> Option<PgTools> {
    // Resolve pg_dump itself rather than the directory: a PATH entry often
    // holds symlinks into the real bindir, and pg_restore must come from the
    // same place as pg_dump. Debian's /usr/bin/pg_dump resolves to
    // `pg_wrapper`, which picks a version at run time; we skip it because the
    // versioned bindirs it dispatches to are scanned anyway.
    let pg_dump = std::fs::canonicalize(dir.join("pg_dump")).ok()?;
    if pg_dump.file_name()? != "pg_dump" {
        return None;
    }
    let bindir = pg_dump.parent()?.to_path_buf();
    if !bindir.join("pg_restore").is_file() {
        return None;
    }
    let out = command_without_secrets(&pg_dump)
        .arg("--version")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let (version, major) = parse_version(&String::from_utf8_lossy(&out.stdout))?;
    Some(PgTools {
        bindir,
        major,
        version,
        warning: None,
    })
}

/// Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` or
/// `pg_dump (PostgreSQL) 18beta1` into the version string and its major.
pub fn parse_version(output: &str) -> Option<(String, u32)> {
    let line = output.lines().next()?;
    let rest = line
        .split_once("(PostgreSQL)")
        .map(|(_, r)| r)
        .unwrap_or(line);
    let version = rest
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = version.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().ok()?;
    Some((version.to_string(), major))
}

/// Picks the installation to use for a source of `source_major` and a target
/// of `target_major` (see the module docs for the rules). Pure, so it can be
/// tested without installations.
pub fn choose(found: &[PgTools], source_major: u32, target_major: u32) -> Result<PgTools, Failure> {
    if found.is_empty() {
        return Err(Failure::config(
            "pg_dump and pg_restore were not found: looked in $PGCOPYDB_PG_BINDIR if set, \
             otherwise $PG_CONFIG --bindir, PATH, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin \
             and /opt/homebrew/opt/postgresql@*/bin; install the PostgreSQL client tools, \
             or point PGCOPYDB_PG_BINDIR or PG_CONFIG at them",
        ));
    }
    let readable = || found.iter().filter(|t| t.major >= source_major);
    // A tool of the target's major only qualifies when it can read the source,
    // i.e. when the target is at least as new as the source. `min_by_key`
    // keeps the first of equal majors, so discovery order (PG_CONFIG, then
    // PATH) breaks ties.
    let exact = readable().find(|t| t.major == target_major);
    let Some(pick) = exact.or_else(|| readable().min_by_key(|t| t.major)) else {
        let listed: Vec<String> = found
            .iter()
            .map(|t| format!("pg_dump {} in {}", t.version, t.bindir.display()))
            .collect();
        return Err(Failure::config(format!(
            "no pg_dump can read the source server (PostgreSQL {source_major}): found {}; \
             install PostgreSQL {source_major} client tools or set PG_CONFIG",
            listed.join(", ")
        )));
    };
    let mut pick = pick.clone();
    if pick.major > target_major {
        pick.warning = Some(format!(
            "using pg_dump/pg_restore {} (in {}) which is newer than the target server \
             (PostgreSQL {target_major}): pg_restore may emit settings the target rejects; \
             install PostgreSQL {target_major} client tools to avoid this",
            pick.version,
            pick.bindir.display()
        ));
    }
    Ok(pick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(major: u32, dir: &str) -> PgTools {
        PgTools {
            bindir: PathBuf::from(dir),
            major,
            version: format!("{major}.1"),
            warning: None,
        }
    }

    #[test]
    fn parses_versions() {
        let deb = "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n";
        assert_eq!(parse_version(deb), Some(("15.18".into(), 15)));
        let beta = "pg_dump (PostgreSQL) 18beta1\n";
        assert_eq!(parse_version(beta), Some(("18beta1".into(), 18)));
        assert_eq!(parse_version("pg_dump 16.2"), Some(("16.2".into(), 16)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn same_major_as_target_when_target_is_newer() {
        let found = [fake(18, "/a"), fake(16, "/b"), fake(17, "/c")];
        let t = choose(&found, 15, 17).unwrap();
        assert_eq!(t.major, 17);
        assert!(t.warning.is_none());
    }

    #[test]
    fn oldest_that_reads_source_when_target_missing() {
        let found = [fake(18, "/a"), fake(16, "/b")];
        let t = choose(&found, 15, 17).unwrap();
        assert_eq!(t.major, 16);
        assert!(t.warning.is_none());
    }

    #[test]
    fn newer_than_target_is_picked_with_a_warning() {
        // Downgrade: source 16 to target 15 needs pg_dump 16.
        let found = [fake(15, "/a"), fake(18, "/b"), fake(16, "/c")];
        let t = choose(&found, 16, 15).unwrap();
        assert_eq!(t.major, 16);
        let w = t.warning.unwrap();
        assert!(w.contains("PostgreSQL 15"), "{w}");
    }

    #[test]
    fn ties_go_to_the_first_discovered() {
        let found = [fake(15, "/pg_config"), fake(15, "/usr/lib")];
        assert_eq!(
            choose(&found, 15, 15).unwrap().bindir,
            PathBuf::from("/pg_config")
        );
    }

    #[test]
    fn too_old_tools_name_what_was_found() {
        let mut t15 = fake(15, "/usr/lib/postgresql/15/bin");
        t15.version = "15.18".into();
        let err = choose(&[t15], 18, 18).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadConfig);
        assert_eq!(
            err.message,
            "no pg_dump can read the source server (PostgreSQL 18): found pg_dump 15.18 in \
             /usr/lib/postgresql/15/bin; install PostgreSQL 18 client tools or set PG_CONFIG"
        );
    }

    #[test]
    fn nothing_found_says_how_to_point_at_tools() {
        let err = choose(&[], 15, 15).unwrap_err();
        assert!(err.message.contains("not found"), "{}", err.message);
        assert!(err.message.contains("PG_CONFIG"), "{}", err.message);
        assert!(err.message.contains("PATH"), "{}", err.message);
    }
}
