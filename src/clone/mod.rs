//! `pgcopydb clone`: the whole pipeline, in order —
//! snapshot, catalog and schema dump, pre-data restore, then table data with
//! indexes, constraints and vacuum overlapping, sequences and large objects
//! alongside, then the rest of post-data, then the summary.
//!
//! Every step and every unit of work is recorded in the work directory's
//! state, so that `--resume` skips what is done and redoes what was cut.

pub mod budget;
mod cdc_carry;
mod data;
mod globals;
pub mod instance;
pub mod limits;
mod options;
mod parallel_pre_data;
mod restore_target;
mod resume;
mod schema_steps;
mod steps;
mod toc_skips;

pub use options::{CloneOptions, CopyFormatChoice};
pub use steps::Steps;
pub use toc_skips::SkipOptions;

use std::time::Instant;

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::catalog::{existing_target_tables, plan_splits, read_catalog, Catalog};
use crate::connections::{connect, connect_target_worker, server_major, Endpoints, Side};
use crate::error::{Failure, SideContext};
use crate::guards;
use crate::interrupt;
use crate::report::summary::Summary;
use crate::snapshot::{self, SnapshotHolder};
use crate::tools::{self, PgTools};
use crate::workdir::state::Unit;
use crate::workdir::{Reuse, WorkDir};

/// Run a clone and return its summary (also written to the work directory).
pub async fn run(endpoints: &Endpoints, opts: &CloneOptions) -> Result<Summary> {
    run_steps(endpoints, opts, Steps::CLONE).await
}

/// Run the given parts of the pipeline on the work directory.
pub async fn run_steps(
    endpoints: &Endpoints,
    opts: &CloneOptions,
    steps: Steps,
) -> Result<Summary> {
    let started = Instant::now();
    let step = Instant::now();
    // Connections and tools first: every bad input fails here, before the
    // work directory records anything that would look like a run to resume.
    let source = match opts.without_source {
        true => None,
        false => Some(connect(Side::Source, &endpoints.source).await?),
    };
    let target = connect_target_worker(&endpoints.target).await?;
    if let (true, Some(source)) = (steps.touches_target(), &source) {
        guards::refuse_same_database(source, &target, steps.name).await?;
    }
    let recorded_source = restore_target::recorded(&opts.dir, restore_target::SOURCE_IDENTITY);
    if let (true, None, Some(recorded)) = (steps.touches_target(), &source, recorded_source) {
        guards::refuse_recorded_source(&target, &recorded, steps.name).await?;
    }
    let source_identity = match &source {
        Some(source) => guards::database_identity(source).await?,
        None => None,
    };
    let target_major = server_major(&target).await?;
    let source_major = match &source {
        Some(source) => server_major(source).await?,
        None => restore_target::recorded_source_major(&opts.dir).unwrap_or(target_major),
    };
    let tools = tools::choose(&tools::discover(), source_major, target_major)?;
    info!(
        "source PostgreSQL {source_major}, target PostgreSQL {target_major}, using pg_dump/pg_restore {} from {}",
        tools.version,
        tools.bindir.display()
    );
    if let Some(w) = &tools.warning {
        tracing::warn!("{w}");
    }
    let fitted_opts = budget::fit_options(source.as_ref(), &target, opts).await?;
    let opts = &fitted_opts;
    drop(source);

    // A whole run owns its directory; the steps of a step-by-step migration
    // share it with the steps before and after them.
    let reuse = if steps.whole_run {
        opts.reuse()
    } else if opts.restart {
        Reuse::Restart
    } else {
        Reuse::Continue
    };
    let carried = match reuse {
        Reuse::Fresh => cdc_carry::read(&opts.dir),
        _ => None,
    };
    let workdir = WorkDir::open(&opts.dir, reuse)?;
    let state = workdir.state.clone();
    if let Some(carried) = &carried {
        carried.restore(&state)?;
    }
    let new_target = restore_target::starts_new_target(&state, endpoints, steps)?;
    state.catalog().put_setup(&opts.record_at_start)?;
    if !opts.record_at_start.is_empty() {
        // The state records `clone --follow`'s slot now.
        crate::stream::follow::slot_intent::remove(&opts.dir)?;
    }
    let resumed_opts = CloneOptions {
        resume: workdir.resuming && !new_target,
        ..opts.clone()
    };
    let opts = &resumed_opts;
    if workdir.resuming {
        resume::check_setup(&state, endpoints, opts, steps)?;
    }
    if opts.resume && steps.touches_target() {
        let app = endpoints.target.application_name().unwrap_or("pgcopydb");
        resume::stop_leftover_queries(&target, app).await?;
    }
    if steps.needs_archive() && !steps.dump && !workdir.archive().exists() {
        return Err(Failure::state(format!(
            "{}: no schema archive in {}: run `pgcopydb dump schema --dir {}` first",
            steps.name,
            opts.dir.display(),
            opts.dir.display()
        ))
        .into());
    }
    let mut summary = Summary {
        source: match opts.without_source {
            true => restore_target::recorded_source(&state)?,
            false => endpoints.source.safe_display(),
        },
        target: endpoints.target.safe_display(),
        setup: crate::report::summary::RunSetup {
            table_jobs: opts.table_jobs,
            index_jobs: opts.index_jobs,
        },
        ..Summary::default()
    };
    let (holder, snapshot_id) = take_snapshot(endpoints, opts, &workdir, steps).await?;
    summary.snapshot = snapshot_id.clone();
    let mut setup = resume::setup_entries(endpoints, opts, snapshot_id.as_deref());
    // Only what this step knows: a dump has no target, a restore without
    // --source keeps the dump's source and snapshot.
    setup.retain(|(key, _)| match *key {
        "target" => steps.touches_target(),
        "source" | "snapshot" => !opts.without_source,
        _ => true,
    });
    setup.push(("table_jobs", opts.table_jobs.to_string()));
    setup.push(("index_jobs", opts.index_jobs.to_string()));
    if !opts.without_source {
        setup.push((restore_target::SOURCE_MAJOR, source_major.to_string()));
    }
    if let Some(identity) = source_identity {
        setup.push((restore_target::SOURCE_IDENTITY, identity));
    }
    state.catalog().put_setup(&setup)?;

    let catalog = catalog_and_dump(
        endpoints,
        opts,
        &workdir,
        &tools,
        snapshot_id.as_deref(),
        steps,
        source_major,
    )
    .await?;
    info!(
        "{} tables ({}), {} indexes, {} sequences, {} large objects",
        catalog.tables.len(),
        crate::report::size::pg_size_pretty(catalog.total_bytes()),
        catalog.index_count(),
        catalog.sequences.len(),
        catalog.large_objects.len()
    );
    summary.step("catalog and schema dump", step.elapsed());
    // The catalog's query results and the dump's listings are dropped.
    crate::memory::release_free_memory();
    crate::failpoint!("schema-dumped");
    restore_target::refuse_what_needs_source(opts, steps, &catalog)?;

    let step = Instant::now();
    let to_drop = if steps.pre_data && !opts.resume {
        refuse_existing_tables(endpoints, &target, &catalog, opts).await?
    } else {
        false
    };
    // From here on the target changes: a run stopped before this point (a
    // refusal above, a failed dump) is not one to resume, and a new run may
    // start over in its directory.
    if steps.touches_target() {
        state.catalog().mark_target_written()?;
    }
    if to_drop {
        schema_steps::drop_tables(&target, &catalog).await?;
    }
    if steps.pre_data {
        globals::copy_roles(&tools, endpoints, &target, &workdir, opts).await?;
    }
    if steps.db_properties && !opts.skip_db_properties && opts.without_source {
        info!(
            "{}: database properties (ALTER DATABASE/ROLE ... SET) are read from the source: \
             pass --source to restore them",
            steps.name
        );
    } else if steps.db_properties
        && !opts.skip_db_properties
        && !state.ledger().is_done(&Unit::Step("db-properties"))?
    {
        // Read under the snapshot, like the rest of the schema: a setting
        // changed on the source once it was taken stays out.
        let source = snapshot::open_reader(&endpoints.source, snapshot_id.as_deref()).await?;
        let n = crate::schema::copy_db_properties(&source, &target)
            .await
            .context("copying database properties")?;
        if n > 0 {
            info!("copied {n} database-level settings");
        }
        state
            .ledger()
            .done_quick(&Unit::Step("db-properties"), "database properties", 0)?;
    }
    let pre = Unit::Step("pre-data");
    if steps.pre_data && !state.ledger().is_done(&pre)? {
        globals::create_pinned_extensions(endpoints, &target, snapshot_id.as_deref(), opts).await?;
        info!("restoring pre-data on the target");
        // A pre-data restore that was cut short left some objects behind;
        // no data is in yet, so dropping and recreating them is safe.
        let interrupted = opts.resume && state.ledger().was_started(&pre)?;
        let restore = schema_steps::restore_pre_data(
            &tools,
            endpoints,
            &target,
            &workdir,
            &catalog.selection,
            &catalog.large_objects,
            snapshot_id.as_deref(),
            opts,
            interrupted,
        );
        let restored = |_: &Vec<_>| {
            crate::failpoint!("pre-data-restored");
            Ok((0, 0))
        };
        let large_object_steps = (state.ledger())
            .recorded(&pre, "pre-data restore", 0, restore, restored)
            .await??;
        summary.step("pre-data restore", step.elapsed());
        crate::memory::release_free_memory();
        // Parts of the step above, shown after it.
        for (name, duration) in large_object_steps {
            summary.step(name, duration);
        }
    }
    if steps.pre_data && opts.without_source && !opts.skips.extensions {
        info!(
            "{}: the rows of extension configuration tables are read from the source: \
             `pgcopydb copy extensions` copies them (or pass --source)",
            steps.name
        );
    } else if steps.pre_data {
        globals::copy_extension_data(endpoints, &target, &workdir, snapshot_id.as_deref(), opts)
            .await?;
    }

    // Data, indexes, constraints, vacuum, sequences and large objects.
    let mut data_incomplete = false;
    if steps.table_data || steps.after_copy() || steps.sequences || steps.large_objects {
        let outcome = data::copy_all(
            endpoints,
            &catalog,
            snapshot_id.as_deref(),
            (source_major, target_major),
            opts,
            steps,
            state.ledger().clone(),
            &target,
        )
        .await?;
        for (name, duration) in &outcome.steps {
            summary.step(name, *duration);
        }
        summary.tables = outcome.tables;
        let build_times = state.ledger().build_times()?;
        crate::report::build_timings::add_build_timings(
            &mut summary.tables,
            &catalog,
            &build_times,
        );
        summary.failures = outcome.failures;
        summary.count_mismatches = outcome.count_mismatches;
        summary.costs = outcome.costs;
        data_incomplete = outcome.data_incomplete;
        // The data phase's plan, queues and connections are gone.
        crate::memory::release_free_memory();
    }
    summary.sequences = catalog.sequences.len();
    summary.large_objects = catalog.large_objects.len();
    if interrupt::is_cancelled() {
        return Err(Failure::interrupted("interrupted").into());
    }

    let post = Unit::Step("post-data");
    // Post-data would put triggers (and keys checked row by row) on tables
    // whose data a resume still has to copy: their triggers would fire then.
    if steps.post_data && data_incomplete {
        warn!("post-data restore left for --resume: some tables' data is not in");
    }
    if steps.post_data
        && !data_incomplete
        && (summary.failures.is_empty() || !opts.fail_fast)
        && !state.ledger().is_done(&post)?
    {
        let step = Instant::now();
        info!("restoring post-data on the target");
        let interrupted = opts.resume && state.ledger().was_started(&post)?;
        if interrupted && opts.without_source {
            return Err(Failure::args(format!(
                "{}: the post-data restore was interrupted; finding what it created names \
                 objects through the source: pass --source",
                steps.name
            ))
            .into());
        }
        let restore = schema_steps::restore_post_data(
            &tools,
            endpoints,
            &workdir,
            &catalog,
            opts,
            interrupted,
        );
        let restored = |_: &()| {
            crate::failpoint!("post-data-restored");
            Ok((0, 0))
        };
        let result = (state.ledger())
            .recorded(&post, "post-data restore", 0, restore, restored)
            .await?;
        match result {
            Ok(()) => summary.step("post-data restore", step.elapsed()),
            Err(e) => {
                state.ledger().failed(&post, &format!("{e:#}"))?;
                if opts.fail_fast {
                    return Err(e);
                }
                // Logged as the data phase's failures are, before the summary.
                warn!("{e:#}");
                summary
                    .failures
                    .push(Failure::classify(&e).or_on(crate::error::Side::Target));
            }
        }
    }
    if opts.verify && summary.failures.is_empty() {
        let step = Instant::now();
        info!("verifying: comparing every table, sequence and large object of source and target");
        let report = crate::compare::compare_data(
            endpoints,
            snapshot_id.as_deref(),
            opts.table_jobs,
            &opts.filters,
        )
        .await?;
        crate::report::stdout::print(report.render())?;
        summary.verified = report.is_equal();
        if !report.is_equal() {
            summary.failures.push(Failure::differs(
                "verification: the target differs from the source (see the comparison above)",
            ));
        }
        summary.step("verification", step.elapsed());
    }
    drop(holder);
    summary.total_seconds = started.elapsed().as_secs_f64();
    summary.peak_rss_kb = crate::memory::peak_rss_kb();
    summary.write_json(&workdir.summary_file())?;
    if summary.failures.is_empty() && steps.whole_run {
        workdir.mark_done()?;
    }
    Ok(summary)
}

/// The snapshot every reader uses: none with `--not-consistent`, the one
/// given with `--snapshot` or held by `pgcopydb snapshot` on this directory,
/// or a new one we export and hold.
async fn take_snapshot(
    endpoints: &Endpoints,
    opts: &CloneOptions,
    workdir: &WorkDir,
    steps: Steps,
) -> Result<(Option<SnapshotHolder>, Option<String>)> {
    if opts.not_consistent || opts.without_source {
        return Ok((None, None));
    }
    let given = opts.snapshot.clone().or_else(|| workdir.held_snapshot());
    let id = match given {
        Some(id) => {
            // Fail now, with a plain explanation, rather than in every worker.
            snapshot::open_reader(&endpoints.source, Some(&id)).await?;
            info!("using snapshot {id}");
            return Ok((None, Some(id)));
        }
        None if opts.resume && steps.whole_run => {
            return Err(Failure::state(
                "--resume needs the snapshot of the first run to still be held (pass it with \
                 --snapshot, or hold it with `pgcopydb snapshot`), or --not-consistent to accept \
                 that tables copied now may see later changes than those copied before",
            )
            .into())
        }
        None => snapshot::export(&endpoints.source).await?,
    };
    crate::workdir::private::write_private_file(&workdir.snapshot_file(), id.id.as_bytes())?;
    info!("exported snapshot {}", id.id);
    let snapshot_id = id.id.clone();
    Ok((Some(id), Some(snapshot_id)))
}

/// The source catalog (read under the snapshot, or reloaded on resume) and
/// the schema archive, produced side by side.
async fn catalog_and_dump(
    endpoints: &Endpoints,
    opts: &CloneOptions,
    workdir: &WorkDir,
    tools: &PgTools,
    snapshot_id: Option<&str>,
    steps: Steps,
    source_major: u32,
) -> Result<Catalog> {
    let state = &workdir.state;
    // Resumed runs and later steps work on the catalog read by the first.
    let saved = if opts.resume || !steps.whole_run {
        state.catalog().load_catalog()?
    } else {
        None
    };
    if saved.is_none() && opts.without_source {
        return Err(Failure::state(format!(
            "{}: no source catalog in {}: run `pgcopydb dump schema --dir {}` first, or pass --source",
            steps.name,
            opts.dir.display(),
            opts.dir.display()
        ))
        .into());
    }
    let dump_unit = Unit::Step("dump");
    let need_dump =
        steps.dump && (!state.ledger().is_done(&dump_unit)? || !workdir.archive().exists());
    info!("reading the source catalog and dumping the schema");
    let catalog = async {
        match saved {
            Some(c) => Ok(c),
            None => {
                let reader = snapshot::open_reader(&endpoints.source, snapshot_id).await?;
                let mut c = read_catalog(&reader, !opts.skip_large_objects, opts.table_sizes)
                    .await
                    .on(Side::Source, "reading the source catalog")?;
                if !opts.filters.is_empty() {
                    let selection = crate::filters::resolve(&opts.filters, &reader)
                        .await
                        .on(Side::Source, "applying --filters to the source catalog")?;
                    selection.apply(&mut c);
                    c.selection = selection;
                }
                plan_splits(
                    &reader,
                    &mut c,
                    &opts.split,
                    source_major,
                    opts.skip_split_by_ctid,
                )
                .await
                .on(Side::Source, "planning table splits")?;
                state.catalog().save_catalog(&c)?;
                Ok::<Catalog, anyhow::Error>(c)
            }
        }
    };
    let dump = async {
        if need_dump {
            let dump = schema_steps::dump(tools, endpoints, snapshot_id, workdir);
            (state.ledger())
                .recorded(&dump_unit, "schema dump", 0, dump, |_| Ok((0, 0)))
                .await??;
        }
        Ok::<(), anyhow::Error>(())
    };
    let (mut catalog, ()) = tokio::try_join!(catalog, dump)?;
    // Kept in the state for `list`; the clone has no use for them, and ten
    // thousand tables' names are megabytes held until the end.
    catalog.listing_names = Default::default();
    Ok(catalog)
}

/// Never overwrite tables by accident: without --drop-if-exists, a target
/// that already has any of the tables is refused; with it, so is a drop
/// that would cascade into target objects the run does not recreate
/// (unless --drop-cascade). Returns whether some are there to drop.
async fn refuse_existing_tables(
    endpoints: &Endpoints,
    target: &tokio_postgres::Client,
    catalog: &Catalog,
    opts: &CloneOptions,
) -> Result<bool> {
    let existing: std::collections::HashSet<String> =
        existing_target_tables(target).await?.into_iter().collect();
    let clashing: Vec<_> = catalog
        .tables
        .iter()
        .filter(|t| existing.contains(&t.label()))
        .collect();
    let clashes: Vec<String> = clashing.iter().map(|t| t.label()).collect();
    if clashes.is_empty() {
        return Ok(false);
    }
    if !opts.drop_if_exists {
        return Err(Failure::target(format!(
            "the target database already has {} of the tables to copy (first: {}); \
             use --drop-if-exists to replace them, clone into an empty database, or, to copy \
             into a schema you prepared (re-partitioned tables...), run `pgcopydb copy data`",
            clashes.len(),
            clashes.first().map_or("", String::as_str)
        ))
        .into());
    }
    let dropped = guards::DroppedTables {
        schemas: clashing.iter().map(|t| t.schema.as_str()).collect(),
        names: clashing.iter().map(|t| t.name.as_str()).collect(),
    };
    let source = connect(Side::Source, &endpoints.source).await?;
    guards::refuse_lost_dependents(
        &source,
        target,
        &dropped,
        &catalog.selection,
        opts.drop_cascade,
    )
    .await?;
    Ok(true)
}

/// `restore parse-list`: write the pre-data and post-data restore lists as
/// the restore would use them, skipped entries commented out with `;`, into
/// the work directory; returns their paths, pre-data first.
pub async fn write_restore_lists(
    endpoints: &Endpoints,
    opts: &CloneOptions,
) -> Result<[std::path::PathBuf; 2]> {
    let target = connect_target_worker(&endpoints.target).await?;
    let target_major = server_major(&target).await?;
    let source_major = match opts.without_source {
        true => restore_target::recorded_source_major(&opts.dir).unwrap_or(target_major),
        false => server_major(&connect(Side::Source, &endpoints.source).await?).await?,
    };
    let tools = tools::choose(&tools::discover(), source_major, target_major)?;
    let workdir = WorkDir::open(&opts.dir, Reuse::Continue)?;
    let catalog = workdir.state.catalog().load_catalog()?;
    let (Some(catalog), true) = (catalog, workdir.archive().exists()) else {
        return Err(Failure::state(format!(
            "no schema dump in {}: run `pgcopydb dump schema --dir {}` first",
            opts.dir.display(),
            opts.dir.display()
        ))
        .into());
    };
    let pre = schema_steps::write_pre_list(
        &tools,
        &target,
        &workdir,
        &catalog.selection,
        opts.skips,
        &catalog.large_objects,
    )
    .await?
    .path;
    let post =
        schema_steps::write_post_list(&tools, endpoints, &workdir, &catalog, opts.skips, false)
            .await?;
    Ok([pre, post])
}
