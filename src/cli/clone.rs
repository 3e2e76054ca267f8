//! `pgcopydb clone` (and `copy db`), of one database or, with
//! `--all-databases`, of the whole instance: build the settings, run the
//! engine, print its summary and turn failed units into the exit code.

use anyhow::Result;

use super::CloneArgs;
use crate::clone::CloneOptions;
use crate::connections::Endpoints;
use crate::error::{units_failed, Failure};
use crate::interrupt;
use crate::sql::quote_ident;

/// `clone` (and `copy db`) of one database.
pub async fn run(args: CloneArgs) -> Result<()> {
    if args.follow {
        return super::clone_follow::run(args).await;
    }
    crate::report::logging::init(args.log.level());
    let endpoints = Endpoints::from_args(&args.conn)?;
    let mut options = CloneOptions::from_args(&args)?;
    serve_metrics(&args, &mut options)?;
    interrupt::install_handlers();
    let summary = interrupt::unless_interrupted(
        crate::clone::run(&endpoints, &options),
        format!(
            "nothing half-copied was recorded as done; continue with `pgcopydb clone --resume \
             --dir {}` (and --not-consistent unless the snapshot is still held)",
            options.dir.display()
        ),
    )
    .await?;
    crate::report::stdout::print(summary.render())?;
    if !summary.failures.is_empty() {
        return Err(units_failed(
            &summary.failures,
            format!(
                "{} unit(s) failed, see above; fix the cause and run again with --resume",
                summary.failures.len()
            ),
        )
        .into());
    }
    Ok(())
}

/// `--metrics-addr`: listen now, before anything is connected to or written,
/// so that an address in use stops the run at once.
pub(super) fn serve_metrics(args: &CloneArgs, options: &mut CloneOptions) -> Result<()> {
    options.metrics =
        crate::report::metrics::server::serve_if(args.metrics_addr.as_deref(), &options.dir)?;
    Ok(())
}

/// `clone --all-databases`: every database of the source instance.
pub async fn run_all_databases(args: CloneArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let endpoints = Endpoints::from_args(&args.conn)?;
    let mut options = CloneOptions::from_args(&args)?;
    serve_metrics(&args, &mut options)?;
    interrupt::install_handlers();
    let (summary, exit) = interrupt::unless_interrupted(
        crate::clone::instance::run(&endpoints, &options),
        format!(
            "continue with `pgcopydb clone --all-databases --resume --not-consistent --dir {}`",
            options.dir.display()
        ),
    )
    .await?;
    crate::report::stdout::print(summary.render())?;
    if summary.failed_databases.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = summary
        .failed_databases
        .iter()
        .map(|n| quote_ident(n))
        .collect();
    Err(Failure::exiting(
        exit,
        format!(
            "{} database(s) failed: {}; see above, fix the cause and run again with --resume",
            names.len(),
            names.join(", ")
        ),
    )
    .into())
}
