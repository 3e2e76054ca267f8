//! A schema dump knows only its source; the restore steps take it to one
//! target or several, one after another, and need no `--source`. What the
//! work directory records as done on the target belongs to one target, the
//! last one a step wrote to: a step given another target starts that one
//! over, instead of taking the first target's progress for its own.

use std::path::Path;

use anyhow::Result;
use tracing::warn;

use super::Steps;
use crate::connections::Endpoints;
use crate::workdir::state::State;

/// Setup key of the source's major version, recorded when the source is read.
pub const SOURCE_MAJOR: &str = "source_major";
/// Setup key of the source database's identity (see
/// [`database_identity`](crate::guards::database_identity)).
pub const SOURCE_IDENTITY: &str = "source_identity";

/// A value recorded in `dir` by the step that read the source (the schema
/// dump), read before the directory is opened, for a step without `--source`.
pub fn recorded(dir: &Path, key: &str) -> Option<String> {
    let path = dir.join(crate::workdir::contents::STATE_FILE);
    if !path.exists() {
        return None;
    }
    State::open_readonly(&path)
        .ok()?
        .catalog()
        .setup()
        .ok()?
        .remove(key)
}

/// The source's major version recorded in `dir`, to choose pg_restore.
pub fn recorded_source_major(dir: &Path) -> Option<u32> {
    recorded(dir, SOURCE_MAJOR)?.parse().ok()
}

/// The source recorded in the work directory, for the summary of a step
/// run without `--source`.
pub fn recorded_source(state: &State) -> Result<String> {
    Ok(state
        .catalog()
        .setup()?
        .remove("source")
        .unwrap_or_default())
}

/// Whether this step starts over on its target: the directory recorded no
/// target yet (a schema dump), or another one. The other target's progress
/// is forgotten then, so that nothing done there is skipped here.
pub fn starts_new_target(state: &State, endpoints: &Endpoints, steps: Steps) -> Result<bool> {
    if steps.whole_run || !steps.touches_target() {
        return Ok(false);
    }
    let target = endpoints.target.safe_display();
    let recorded = state
        .catalog()
        .setup()?
        .remove("target")
        .unwrap_or_default();
    if recorded == target {
        return Ok(false);
    }
    if !recorded.is_empty() {
        warn!(
            "{}: this work directory's progress was for target {recorded}; starting over on {target} \
             (the schema dump is kept; what was done on {recorded} is no longer tracked here)",
            steps.name
        );
    }
    state.forget_target_progress()?;
    state.catalog().put_setup(&[("target", target)])?;
    Ok(true)
}

/// Before anything is written: what a restore step without `--source`
/// cannot do, each named with the way out.
pub fn refuse_what_needs_source(
    opts: &super::CloneOptions,
    steps: Steps,
    catalog: &crate::catalog::Catalog,
) -> Result<()> {
    if !opts.without_source {
        return Ok(());
    }
    let needs = if opts.roles && steps.pre_data {
        Some("--roles reads the roles from the source")
    } else if !opts.requirements.is_empty() && steps.pre_data && !opts.skips.extensions {
        Some("--requirements reads the extensions from the source")
    } else if !catalog.large_objects.is_empty() && steps.pre_data {
        Some("the dump's large objects get their owners and privileges from the source")
    } else {
        None
    };
    match needs {
        Some(why) => {
            Err(crate::error::Failure::args(format!("{}: {why}: pass --source", steps.name)).into())
        }
        None => Ok(()),
    }
}
