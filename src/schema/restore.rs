//! `pg_restore` of one section with a filtered `--use-list`.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::child::{command, could_not_run, error_excerpt, path_arg};
use super::Section;
use crate::error::Failure;
use crate::tools::PgTools;

/// The pg_restore switches pgcopydb exposes.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// `--jobs`; 1 means `--single-transaction` instead, so a failed restore
    /// leaves nothing half-done behind.
    pub jobs: usize,
    /// `--clean --if-exists`: drop the objects first.
    pub clean_if_exists: bool,
    pub no_owner: bool,
    pub no_acl: bool,
    pub no_comments: bool,
    pub no_tablespaces: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            jobs: 1,
            clean_if_exists: false,
            no_owner: false,
            no_acl: false,
            no_comments: false,
            no_tablespaces: false,
        }
    }
}

impl RestoreOptions {
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.jobs <= 1 {
            args.push("--single-transaction".to_string());
        } else {
            args.push(format!("--jobs={}", self.jobs));
        }
        // pg_restore's default is to carry on past errors and report a count
        // at the end; a schema with holes is worse than a clear failure.
        args.push("--exit-on-error".into());
        if self.clean_if_exists {
            args.push("--clean".into());
            args.push("--if-exists".into());
        }
        let flags = [
            (self.no_owner, "--no-owner"),
            (self.no_acl, "--no-acl"),
            (self.no_comments, "--no-comments"),
            (self.no_tablespaces, "--no-tablespaces"),
        ];
        args.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f.to_string()),
        );
        args
    }
}

/// Restores `section` of `archive` into the target, limited to the entries
/// that `use_list` keeps.
pub async fn restore(
    tools: &PgTools,
    dbname_arg: &str,
    password: Option<&str>,
    archive: &Path,
    section: Section,
    use_list: &Path,
    opts: &RestoreOptions,
) -> anyhow::Result<()> {
    let program = tools.pg_restore();
    let mut cmd = command(&program, password).map_err(|e| could_not_run(&program, e))?;
    cmd.arg(format!("--dbname={dbname_arg}"))
        .arg(format!("--section={}", section.as_arg()))
        .arg(path_arg("--use-list=", use_list))
        .args(opts.args())
        .arg(archive)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());

    let mut child = cmd.spawn().map_err(|e| could_not_run(&program, e))?;

    // Read stderr while the child runs (a full pipe would block it) and keep
    // it for the error message.
    let mut stderr_text = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        // Bytes, not `lines()`: object names or localized messages need not
        // be UTF-8, and that must not turn into a read error.
        while reader.read_until(b'\n', &mut buf).await? > 0 {
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            tracing::debug!(target: "pg_restore", "{line}");
            // Bounded: a restore of a huge schema may warn a lot.
            if stderr_text.len() < 64 * 1024 {
                stderr_text.push_str(line);
                stderr_text.push('\n');
            }
            buf.clear();
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        return Err(Failure::target(format!(
            "pg_restore of the {} section failed ({status}):\n{}",
            section.as_arg(),
            error_excerpt(&stderr_text)
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_means_single_transaction() {
        let args = RestoreOptions::default().args();
        assert_eq!(args, ["--single-transaction", "--exit-on-error"]);
    }

    #[test]
    fn all_switches() {
        let opts = RestoreOptions {
            jobs: 4,
            clean_if_exists: true,
            no_owner: true,
            no_acl: true,
            no_comments: true,
            no_tablespaces: true,
        };
        assert_eq!(
            opts.args(),
            [
                "--jobs=4",
                "--exit-on-error",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-acl",
                "--no-comments",
                "--no-tablespaces"
            ]
        );
    }
}
