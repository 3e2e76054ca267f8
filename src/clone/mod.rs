//! `pgcopydb clone`: the whole pipeline, in order —
//! snapshot, catalog and schema dump, pre-data restore, then table data with
//! indexes, constraints and vacuum overlapping, sequences and large objects
//! alongside, then the rest of post-data, then the summary.

mod data;
mod options;
mod schema_steps;

pub use options::CloneOptions;

use std::time::Instant;

use anyhow::{Context, Result};
use tracing::info;

use crate::catalog::{existing_target_tables, read_catalog};
use crate::cli::CloneArgs;
use crate::connections::{connect, connect_target_worker, server_major, Endpoints, Side};
use crate::error::Failure;
use crate::report::summary::Summary;
use crate::snapshot;
use crate::tools;
use crate::workdir::WorkDir;

pub async fn run_cli(args: CloneArgs) -> Result<()> {
    crate::report::logging::init(&args.log);
    let endpoints = Endpoints::from_args(&args.conn)?;
    let options = CloneOptions::from_args(&args);
    let summary = run(&endpoints, &options).await?;
    print!("{}", summary.render());
    if !summary.failures.is_empty() {
        return Err(Failure::new(
            crate::error::ExitCode::Internal,
            format!(
                "{} step(s) failed: {}",
                summary.failures.len(),
                summary.failures.join("; ")
            ),
        )
        .into());
    }
    Ok(())
}

/// Run a clone and return its summary (also written to the work directory).
pub async fn run(endpoints: &Endpoints, opts: &CloneOptions) -> Result<Summary> {
    let started = Instant::now();
    let workdir = WorkDir::open(&opts.dir, opts.reuse())?;
    let mut summary = Summary {
        source: endpoints.source.safe_display(),
        target: endpoints.target.safe_display(),
        ..Summary::default()
    };

    // Connections and tools first: every bad input fails here, before any work.
    let step = Instant::now();
    let source = connect(Side::Source, &endpoints.source).await?;
    let target = connect_target_worker(&endpoints.target).await?;
    let (source_major, target_major) = (server_major(&source).await?, server_major(&target).await?);
    let tools = tools::choose(&tools::discover(), source_major, target_major)?;
    info!(
        "source PostgreSQL {source_major}, target PostgreSQL {target_major}, using pg_dump/pg_restore {} from {}",
        tools.version,
        tools.bindir.display()
    );
    drop(source);

    // The snapshot every reader shares.
    let holder = match (&opts.snapshot, opts.not_consistent) {
        (_, true) => None,
        (Some(_), false) => None,
        (None, false) => Some(snapshot::export(&endpoints.source).await?),
    };
    let snapshot_id = match (&holder, &opts.snapshot, opts.not_consistent) {
        (_, _, true) => None,
        (Some(h), _, _) => Some(h.id.clone()),
        (None, Some(id), _) => Some(id.clone()),
        (None, None, false) => None,
    };
    if let Some(id) = &snapshot_id {
        std::fs::write(workdir.snapshot_file(), id)?;
        info!("using snapshot {id}");
    }
    summary.snapshot = snapshot_id.clone();

    // Catalog and schema dump run side by side, both under the snapshot.
    let reader = snapshot::open_reader(&endpoints.source, snapshot_id.as_deref()).await?;
    info!("reading the source catalog and dumping the schema");
    let (catalog, ()) = tokio::try_join!(
        async {
            read_catalog(&reader, !opts.skip_large_objects)
                .await
                .context("reading the source catalog")
        },
        schema_steps::dump(&tools, endpoints, snapshot_id.as_deref(), &workdir),
    )?;
    drop(reader);
    info!(
        "{} tables ({}), {} indexes, {} sequences, {} large objects",
        catalog.tables.len(),
        indicatif::HumanBytes(catalog.total_bytes().max(0) as u64),
        catalog.index_count(),
        catalog.sequences.len(),
        catalog.large_objects.len()
    );
    summary.step("catalog and schema dump", step.elapsed());

    // Never overwrite tables by accident.
    let step = Instant::now();
    let existing = existing_target_tables(&target).await?;
    let clashes: Vec<&String> = catalog
        .tables
        .iter()
        .map(|t| t.label())
        .filter_map(|l| existing.iter().find(|e| **e == l))
        .collect();
    if !clashes.is_empty() && !opts.drop_if_exists && !opts.resume {
        return Err(Failure::target(format!(
            "the target database already has {} of the tables to copy (first: {}); \
             use --drop-if-exists to replace them, or clone into an empty database",
            clashes.len(),
            clashes[0]
        ))
        .into());
    }
    if opts.drop_if_exists && !clashes.is_empty() {
        schema_steps::drop_tables(&target, &catalog).await?;
    }
    if !opts.skip_db_properties {
        let source = connect(Side::Source, &endpoints.source).await?;
        let n = crate::schema::copy_db_properties(&source, &target)
            .await
            .context("copying database properties")?;
        if n > 0 {
            info!("copied {n} database-level settings");
        }
    }
    info!("restoring pre-data on the target");
    schema_steps::restore_pre_data(&tools, endpoints, &target, &workdir, opts).await?;
    summary.step("pre-data restore", step.elapsed());

    // Data, indexes, constraints, vacuum, sequences and large objects.
    let outcome = data::copy_all(
        endpoints,
        &catalog,
        snapshot_id.as_deref(),
        source_major == target_major,
        opts,
    )
    .await?;
    for (name, duration) in &outcome.steps {
        summary.step(name, *duration);
    }
    summary.tables = outcome.tables;
    summary.sequences = catalog.sequences.len();
    summary.large_objects = catalog.large_objects.len();
    summary.failures = outcome.failures;
    drop(holder);

    if summary.failures.is_empty() || !opts.fail_fast {
        let step = Instant::now();
        info!("restoring post-data on the target");
        match schema_steps::restore_post_data(&tools, endpoints, &workdir, &catalog, opts).await {
            Ok(()) => summary.step("post-data restore", step.elapsed()),
            Err(e) if !opts.fail_fast => summary.failures.push(format!("{e:#}")),
            Err(e) => return Err(e),
        }
    }
    summary.total_seconds = started.elapsed().as_secs_f64();
    summary.write_json(&workdir.summary_file())?;
    if summary.failures.is_empty() {
        workdir.mark_done()?;
    }
    Ok(summary)
}
