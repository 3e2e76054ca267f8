//! What a clone does around the schema for objects outside the database's
//! own dump: roles (`--roles`) before it, and the rows of extension
//! configuration tables after pre-data created the extensions.

use anyhow::{Context, Result};
use tokio_postgres::Client;
use tracing::info;

use super::CloneOptions;
use crate::connections::{connect, Endpoints, Side};
use crate::extensions::{self, config_data};
use crate::tools::PgTools;
use crate::workdir::state::Unit;
use crate::workdir::WorkDir;

/// `--roles`: once per work directory, before anything refers to them
/// (ownership, grants, `ALTER ROLE ... IN DATABASE`).
pub async fn copy_roles(
    tools: &PgTools,
    endpoints: &Endpoints,
    target: &Client,
    workdir: &WorkDir,
    opts: &CloneOptions,
) -> Result<()> {
    let unit = Unit::Step("roles");
    if !opts.roles || workdir.state.ledger().is_done(&unit)? {
        return Ok(());
    }
    let source = connect(Side::Source, &endpoints.source).await?;
    let file = workdir.roles_file();
    let created = crate::roles::copy_roles(
        tools,
        &endpoints.source,
        &source,
        target,
        opts.no_role_passwords,
        &file,
    )
    .await
    .context("copying roles (--roles)")?;
    info!("created {} role(s) on the target", created.len());
    workdir.state.ledger().done_quick(&unit, "roles", 0)
}

/// `--requirements`: create the pinned extensions at their pinned version
/// before the pre-data restore, whose `CREATE EXTENSION IF NOT EXISTS` then
/// leaves them as they are.
pub async fn create_pinned_extensions(
    endpoints: &Endpoints,
    target: &Client,
    snapshot: Option<&str>,
    opts: &CloneOptions,
) -> Result<()> {
    if opts.skips.extensions || opts.requirements.is_empty() {
        return Ok(());
    }
    let source = crate::snapshot::open_reader(&endpoints.source, snapshot).await?;
    let pinned: Vec<_> = extensions::read_extensions(&source, &opts.filters)
        .await?
        .into_iter()
        .filter(|e| opts.requirements.contains_key(&e.name))
        .collect();
    let created = extensions::create_extensions(target, &pinned, &opts.requirements).await?;
    if !created.is_empty() {
        info!("created pinned extension(s): {}", created.join(", "));
    }
    Ok(())
}

/// The configuration rows of the extensions the pre-data restore created
/// (pg_dump's schema sections leave them out), read under the snapshot.
/// Not with `--skip-extensions`: `copy extensions` does it then.
pub async fn copy_extension_data(
    endpoints: &Endpoints,
    target: &Client,
    workdir: &WorkDir,
    snapshot: Option<&str>,
    opts: &CloneOptions,
) -> Result<()> {
    let unit = Unit::Step("extension-data");
    if opts.skips.extensions || workdir.state.ledger().is_done(&unit)? {
        return Ok(());
    }
    let source = crate::snapshot::open_reader(&endpoints.source, snapshot).await?;
    let list = extensions::read_extensions(&source, &opts.filters).await?;
    let rows = config_data::copy_config_data(&source, target, &list)
        .await
        .context("copying extension configuration data")?;
    if rows > 0 {
        info!("copied {rows} rows of extension configuration tables");
    }
    workdir
        .state
        .ledger()
        .done_quick(&unit, "extension configuration data", 0)
}
