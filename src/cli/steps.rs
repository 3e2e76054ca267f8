//! The step-by-step commands: `dump schema`, `restore ...`, `copy ...`.
//! Each runs one part of the clone pipeline on a work directory shared with
//! the steps before and after it.

use anyhow::Result;
use clap::Subcommand;

use crate::cli::CloneArgs;
use crate::clone::{run_steps, CloneOptions, Steps};
use crate::connections::Endpoints;

#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// Dump the source's pre-data and post-data schema into the work directory
    /// (and record the source catalog for the later steps)
    Schema(CloneArgs),
    /// Dump the source's roles (pg_dumpall --roles-only) into the work directory
    Roles(super::roles::RolesArgs),
}

#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Restore pre-data and post-data from the work directory
    Schema(CloneArgs),
    /// Restore pre-data (types, tables, functions, ...) from the work directory
    PreData(CloneArgs),
    /// Restore post-data (indexes, constraints, triggers, ...) not already built
    PostData(CloneArgs),
    /// Create the dumped roles that do not exist on the target
    Roles(super::roles::RolesArgs),
    /// Print the pre-data and post-data restore lists, skipped entries commented out
    ParseList(CloneArgs),
}

/// Run one step command and print its summary.
pub async fn run_step(mut args: CloneArgs, steps: Steps) -> Result<()> {
    crate::report::logging::init(args.log.level());
    if args.all_databases {
        return Err(crate::error::Failure::args(format!(
            "{}: --all-databases is only supported by clone (and copy db)",
            steps.name
        ))
        .into());
    }
    // `dump schema` only reads the source; without --target the tools are
    // chosen for the source's version.
    if !steps.touches_target() && args.conn.target.is_none() {
        args.conn.target = args.conn.source.clone();
    }
    let without_source = without_source(&mut args, steps);
    let endpoints = Endpoints::from_args(&args.conn)?;
    let options = CloneOptions {
        without_source,
        ..CloneOptions::from_args(&args)?
    };
    crate::interrupt::install_handlers();
    let summary = run_steps(&endpoints, &options, steps).await?;
    crate::report::stdout::print(summary.render())?;
    if !summary.failures.is_empty() {
        return Err(crate::error::units_failed(
            &summary.failures,
            format!(
                "{}: {} unit(s) failed, see above; fix the cause and run it again",
                steps.name,
                summary.failures.len()
            ),
        )
        .into());
    }
    Ok(())
}

/// `restore parse-list`: print the restore lists the restore would use.
pub async fn print_restore_lists(mut args: CloneArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let without_source = without_source(&mut args, Steps::RESTORE_SCHEMA);
    let endpoints = Endpoints::from_args(&args.conn)?;
    let opts = CloneOptions {
        without_source,
        ..CloneOptions::from_args(&args)?
    };
    for path in crate::clone::write_restore_lists(&endpoints, &opts).await? {
        crate::report::stdout::print(std::fs::read_to_string(path)?)?;
    }
    Ok(())
}

/// Whether a restore step runs without the source: it was not given, and
/// the step works from the work directory's dump. The source's connection
/// string is then one that cannot connect, so that nothing reads another
/// server in its place.
fn without_source(args: &mut CloneArgs, steps: Steps) -> bool {
    if steps.needs_source() || args.conn.source.is_some() {
        return false;
    }
    args.conn.source = Some(NO_SOURCE.to_string());
    true
}

/// A connection string no server answers (a socket directory that does not exist).
const NO_SOURCE: &str = "host=/nonexistent/pgcopydb-no-source-given dbname=no_source";
