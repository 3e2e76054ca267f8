//! `clone --all-databases`: the whole instance. Roles are copied once, the
//! missing databases are created on the target, then every database runs
//! the ordinary clone pipeline in its own work directory, several at once,
//! largest first. Their COPY and index work share one instance-wide limit
//! ([`super::limits`]): at most --table-jobs COPYs and --index-jobs index
//! builds run in total, and a freed COPY slot goes to the largest table
//! waiting in any database. One consolidated summary ends the run.

mod compare;
mod databases;
mod dirs;

pub use compare::{compare_all_data, compare_all_schema, InstanceComparison};

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tracing::{info, warn, Instrument};

use super::limits::JobLimits;
use super::{CloneOptions, Steps};
use crate::connections::{connect, server_major, Endpoints, Side};
use crate::error::{exit_code_of, exit_code_of_failures, ExitCode, Failure};
use crate::interrupt;
use crate::report::instance_summary::{DatabaseReport, InstanceSummary};
use crate::report::summary::Summary;
use crate::roles;
use crate::sql::quote_ident;
use crate::tools;
use crate::workdir::has_finished_run;

use databases::SourceDatabase;
use dirs::InstanceDir;

/// Copy every database of the source instance. Returns the summary (also
/// written to `<dir>/summary.json`) and, when a database failed, the exit
/// code its failure carries.
pub async fn run(
    endpoints: &Endpoints,
    opts: &CloneOptions,
) -> Result<(InstanceSummary, ExitCode)> {
    let started = Instant::now();
    let source = connect(Side::Source, &endpoints.source).await?;
    let target = connect(Side::Target, &endpoints.target).await?;
    crate::guards::refuse_same_instance(&source, &target, "clone --all-databases").await?;
    let (source_major, target_major) = (server_major(&source).await?, server_major(&target).await?);
    let tools = tools::choose(&tools::discover(), source_major, target_major)?;
    let databases = databases::list_source(&source).await?;
    let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
    info!(
        "copying {} databases, largest first: {}",
        names.len(),
        databases
            .iter()
            .map(|d| format!(
                "{} ({})",
                quote_ident(&d.name),
                crate::report::size::pg_size_pretty(d.bytes)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let dir = InstanceDir::open(&opts.dir, opts.restart, opts.resume, &names)?;
    let on_target = databases::target_databases(&target).await?;
    // Filters may leave clashing tables out: then each database's own check,
    // on its filtered catalog, decides.
    if !opts.resume && !opts.drop_if_exists && opts.filters.is_empty() {
        databases::refuse_existing_tables(endpoints, &databases, &on_target).await?;
    }

    let mut summary = InstanceSummary {
        source: endpoints.source.safe_display(),
        target: endpoints.target.safe_display(),
        ..InstanceSummary::default()
    };
    // Roles first: the databases and their objects are owned by them.
    let passwords = roles::can_read_passwords(&source).await?;
    if !passwords {
        info!("the source role cannot read pg_authid: copying roles without passwords");
    }
    roles::dump_roles(&tools, &endpoints.source, passwords, &dir.roles_file()).await?;
    let script = std::fs::read_to_string(dir.roles_file())?;
    summary.roles_created = roles::restore_roles(&target, &script).await?;
    if !summary.roles_created.is_empty() {
        info!(
            "created {} role(s) on the target: {}",
            summary.roles_created.len(),
            summary.roles_created.join(", ")
        );
    }
    summary.databases_created =
        databases::create_missing(&target, target_major, &databases).await?;
    drop((source, target));

    let (reports, exit) = copy_databases(endpoints, opts, &dir, databases).await?;
    summary.databases = reports;
    summary.finish(started.elapsed().as_secs_f64());
    summary
        .write_json(&dir.summary_file())
        .with_context(|| format!("writing {}", dir.summary_file().display()))?;
    Ok((summary, exit))
}

/// Run the clone of every database, at most --table-jobs databases at once
/// (largest first), all sharing one set of job limits.
async fn copy_databases(
    endpoints: &Endpoints,
    opts: &CloneOptions,
    dir: &InstanceDir,
    databases: Vec<SourceDatabase>,
) -> Result<(Vec<DatabaseReport>, ExitCode)> {
    let limits = JobLimits::new(opts.table_jobs, opts.index_jobs);
    // Each database in flight holds its snapshot, schema restore and idle
    // worker connections: bound how many are open at once, as the original
    // bounds its pre-data workers by --table-jobs.
    let in_flight = Arc::new(Semaphore::new(opts.table_jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (order, db) in databases.into_iter().enumerate() {
        let db_endpoints = Endpoints {
            source: endpoints.source.with_dbname(&db.name),
            target: endpoints.target.with_dbname(&db.name),
        };
        let db_opts = CloneOptions {
            dir: dir.database(&db.name),
            limits: Some(limits.clone()),
            ..opts.clone()
        };
        let in_flight = in_flight.clone();
        let span = tracing::info_span!("db", name = %db.name);
        tasks.spawn(
            async move {
                let _slot = in_flight.acquire_owned().await;
                let started = Instant::now();
                let result = copy_one(&db_endpoints, &db_opts).await;
                (order, db.name, result, started.elapsed())
            }
            .instrument(span),
        );
    }
    let mut reports = Vec::new();
    let mut exit = None;
    while let Some(joined) = tasks.join_next().await {
        let (order, name, result, took) = joined.context("a database's clone panicked")?;
        let report = match result {
            Ok(s) => {
                if !s.failures.is_empty() {
                    exit.get_or_insert(exit_code_of_failures(&s.failures));
                }
                DatabaseReport::from_summary(&name, &s)
            }
            Err(e) => {
                if interrupt::is_cancelled() {
                    return Err(e);
                }
                warn!("database {}: {e:#}", quote_ident(&name));
                exit.get_or_insert(exit_code_of(&e));
                DatabaseReport::failed(&name, Failure::classify(&e), took.as_secs_f64())
            }
        };
        reports.push((order, report));
    }
    reports.sort_by_key(|(order, _)| *order);
    let reports = reports.into_iter().map(|(_, r)| r).collect();
    Ok((reports, exit.unwrap_or(ExitCode::Internal)))
}

/// One database: the ordinary clone, or, on --resume, the summary of a
/// database whose run had already finished.
async fn copy_one(endpoints: &Endpoints, opts: &CloneOptions) -> Result<Summary> {
    if opts.resume && has_finished_run(&opts.dir) {
        let saved = std::fs::read(opts.dir.join("summary.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Summary>(&b).ok());
        if let Some(summary) = saved {
            info!("already copied by an earlier run");
            return Ok(summary);
        }
    }
    super::run_steps(endpoints, opts, Steps::CLONE).await
}
