//! `pg_dump` of the schema and `pg_restore --list` of the archive.

use std::path::Path;

use super::child::{command, could_not_run, error_excerpt, path_arg};
use super::toc::{parse_list, parse_list_keeping, TocEntry};
use super::Section;
use crate::error::Failure;
use crate::tools::PgTools;

/// Dumps the pre-data and post-data sections of the source into one custom
/// format archive at `out`, reading under `snapshot` when given so the schema
/// matches the data copied under the same snapshot.
pub async fn dump(
    tools: &PgTools,
    dbname_arg: &str,
    password: Option<&str>,
    snapshot: Option<&str>,
    out: &Path,
) -> anyhow::Result<()> {
    // pg_dump truncates the file it is given and keeps its mode: a fresh
    // 0600 file (a link there replaced, not followed) keeps the schema private.
    crate::workdir::private::open_private_file(out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    let program = tools.pg_dump();
    let mut cmd = command(&program, password).map_err(|e| could_not_run(&program, e))?;
    cmd.arg("--format=custom")
        .arg("--section=pre-data")
        .arg("--section=post-data");
    if let Some(id) = snapshot {
        cmd.arg(format!("--snapshot={id}"));
    }
    cmd.arg(path_arg("--file=", out))
        .arg(format!("--dbname={dbname_arg}"));

    let output = cmd.output().await.map_err(|e| could_not_run(&program, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Failure::source(format!(
            "pg_dump of the source schema failed ({}):\n{}",
            output.status,
            error_excerpt(&stderr)
        ))
        .into());
    }
    Ok(())
}

/// The entries of one section of `archive`, in archive order. pg_restore
/// does the section filtering itself (entries without a section of their
/// own, such as COMMENT and ACL, follow the object they belong to).
pub async fn list(
    tools: &PgTools,
    archive: &Path,
    section: Section,
) -> anyhow::Result<Vec<TocEntry>> {
    let stdout =
        pg_restore_list(tools, archive, &format!("--section={}", section.as_arg())).await?;
    Ok(parse_list(&stdout))
}

/// [`list`], keeping only the entries `keep` (called on each in archive
/// order) says to keep.
pub async fn list_keeping(
    tools: &PgTools,
    archive: &Path,
    section: Section,
    keep: impl FnMut(&TocEntry) -> bool,
) -> anyhow::Result<Vec<TocEntry>> {
    let stdout =
        pg_restore_list(tools, archive, &format!("--section={}", section.as_arg())).await?;
    Ok(parse_list_keeping(&stdout, keep))
}

/// What each entry of `archive` depends on, by dump id: `pg_restore --list
/// --verbose` prints it (see toc.rs). Not part of [`list`]: the verbose
/// listing shows every entry of the archive whatever `--section` says.
pub async fn dependencies(
    tools: &PgTools,
    archive: &Path,
) -> anyhow::Result<std::collections::HashMap<u32, Vec<u32>>> {
    let stdout = pg_restore_list(tools, archive, "--verbose").await?;
    Ok(super::toc::parse_dependencies(&stdout))
}

/// `pg_restore --list OPTION archive`'s output. Lossy is fine: a use-list
/// is matched on dump ids only.
async fn pg_restore_list(tools: &PgTools, archive: &Path, option: &str) -> anyhow::Result<String> {
    let program = tools.pg_restore();
    let output = command(&program, None)
        .map_err(|e| could_not_run(&program, e))?
        .arg("--list")
        .arg(option)
        .arg(archive)
        .output()
        .await
        .map_err(|e| could_not_run(&program, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "pg_restore --list {option} {} failed ({}):\n{}",
            archive.display(),
            output.status,
            error_excerpt(&stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
