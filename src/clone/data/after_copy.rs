//! The work that follows a table's copy, as the rules and the schedule
//! decide it: the table's indexes, then its constraints, then its
//! statistics; once it is complete, its partitioned parent's indexes and
//! its foreign keys.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures_util::future::try_join_all;

use super::schedule::ConstraintPool;
use super::shared::Shared;
use crate::catalog::{PartitionedTable, Table};
use crate::foreign_keys::add_foreign_key;
use crate::indexes::{attach_constraints, build_index, build_parent_index, buildable};
use crate::report::costs::Cost;
use crate::report::summary::TableReport;
use crate::workdir::state::Unit;

/// Everything that follows a table's data: all its indexes at once, then its
/// constraints, then VACUUM ANALYZE. Units done by an earlier run are skipped.
pub(super) async fn after_copy(shared: Arc<Shared>, table: Arc<Table>, mut report: TableReport) {
    let started = Instant::now();
    let rules = &shared.plan.rules;
    let costs = &shared.costs;
    let builds = buildable(&table).map(|index| {
        let shared = shared.clone();
        async move {
            let unit = Unit::Index(index.oid);
            if shared.plan.rules.builds_index(index) {
                // Any failure of the unit is reported, not only the build's:
                // one that ended the future silently left the index to
                // post-data, which then failed on it existing.
                let label = index.label();
                let if_not_exists = shared.index_if_not_exists();
                let costs = &shared.costs;
                shared
                    .run_target_unit(
                        &unit,
                        &label,
                        shared.index_connection(),
                        |conn| async move {
                            let started = Instant::now();
                            build_index(&conn, index, if_not_exists).await?;
                            costs.since(Cost::Indexes, started);
                            crate::failpoint!("index-built", &index.label());
                            Ok(())
                        },
                    )
                    .await?;
            }
            shared.progress.indexes_done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), anyhow::Error>(())
        }
    });
    let built = try_join_all(builds).await.is_ok();
    let mut ok = built;
    let constraints = built.then(|| rules.constraints_to_attach(&table)).flatten();
    if let Some(pool) = constraints {
        let pool = match pool {
            ConstraintPool::Index => &shared.pools.index,
            ConstraintPool::Ddl => &shared.pools.ddl,
        };
        let table = &table;
        ok = shared
            .run_target_unit(
                &Unit::Constraints(table.oid),
                &table.label(),
                pool.get(),
                |conn| async move {
                    let started = Instant::now();
                    attach_constraints(&conn, table).await?;
                    costs.since(Cost::Indexes, started);
                    crate::failpoint!("constraints-attached", &table.label());
                    Ok(())
                },
            )
            .await
            .is_ok();
    }
    report.index_seconds = started.elapsed().as_secs_f64();
    shared.timings.index_work_ended();
    if let Some(sql) = ok.then(|| rules.analyze(&table)).flatten() {
        let sql = &sql;
        // Its failure is reported; the table is complete all the same.
        let _ = shared
            .run_target_unit(
                &Unit::Vacuum(table.oid),
                &table.label(),
                shared.pools.index.get(),
                |conn| async move {
                    let started = Instant::now();
                    let result = conn
                        .batch_execute(sql)
                        .await
                        .with_context(|| format!("{sql} on the target"));
                    costs.since(Cost::Analyze, started);
                    result
                },
            )
            .await;
        shared.timings.index_work_ended();
    }
    crate::sync::lock(&shared.outcome.reports).push(report);
    // A table whose indexes or constraints failed never becomes complete:
    // its foreign keys are not attempted (the failure is already reported).
    if ok {
        table_complete(&shared, table.oid);
    }
}

/// What follows the copy of a group of small tables copied together (see
/// `table_copy::take_group`): all their indexes and constraints in one
/// target transaction on one index connection, then one ANALYZE statement
/// for all of them; the units of each step recorded in one state write
/// before it and one after its commit. A crash in between leaves them
/// running: the resume builds them again (IF NOT EXISTS) as it does any
/// unit left running. When the transaction fails, each table goes through
/// [`after_copy`] alone, so that the failure is told against its own unit.
pub(super) async fn after_copy_group(shared: Arc<Shared>, tables: Vec<(Arc<Table>, TableReport)>) {
    let started = Instant::now();
    let rules = &shared.plan.rules;
    let mut units: Vec<(Unit, String, i64)> = Vec::new();
    for (table, _) in &tables {
        for index in buildable(table).filter(|i| rules.builds_index(i)) {
            units.push((Unit::Index(index.oid), index.label(), 0));
        }
        if rules.constraints_to_attach(table).is_some() {
            units.push((Unit::Constraints(table.oid), table.label(), 0));
        }
    }
    let built = async {
        if units.is_empty() {
            return Ok(());
        }
        shared.ledger.start_many(&units)?;
        let conn = shared.index_connection().await?;
        let started = Instant::now();
        conn.batch_execute("BEGIN").await?;
        match build_group(&shared, &conn, &tables).await {
            Ok(()) => conn.batch_execute("COMMIT").await?,
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
        shared.costs.since(Cost::Indexes, started);
        Ok(())
    }
    .await;
    shared.timings.index_work_ended();
    if let Err(e) = built {
        tracing::debug!(
            "the indexes of a group of {} small tables failed ({e:#}): building them table by table",
            tables.len()
        );
        for (table, report) in tables {
            shared.spawn_after(after_copy(shared.clone(), table, report));
        }
        return;
    }
    // Committed: from here a failure is told against its unit, as when
    // each is built alone, and the group's tables stay incomplete.
    if !record_group_built(&shared, &units).await {
        for (_, report) in tables {
            crate::sync::lock(&shared.outcome.reports).push(report);
        }
        return;
    }
    let count: usize = tables.iter().map(|(t, _)| buildable(t).count()).sum();
    shared
        .progress
        .indexes_done
        .fetch_add(count, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64() / tables.len().max(1) as f64;
    analyze_group(&shared, &tables).await;
    for (table, mut report) in tables {
        report.index_seconds = seconds;
        crate::sync::lock(&shared.outcome.reports).push(report);
        table_complete(&shared, table.oid);
    }
}

/// Record the group's committed index and constraint units done, with the
/// failpoint of each kind of unit reached for each; false when that failed
/// (the failure is recorded against its unit and reported).
async fn record_group_built(shared: &Shared, units: &[(Unit, String, i64)]) -> bool {
    for (unit, label, _) in units {
        if let Err(e) = reached_after_build(unit, label) {
            shared.fail_on_target(Some(unit), &e).await;
            return false;
        }
    }
    let done: Vec<(Unit, u64, u64)> = units.iter().map(|(u, _, _)| (u.clone(), 0, 0)).collect();
    if let Err(e) = shared.ledger.done_many(&done) {
        shared.fail_on_target(None, &e).await;
        return false;
    }
    true
}

/// The failpoint of a unit built alone, once it is committed in a group.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
fn reached_after_build(unit: &Unit, label: &str) -> anyhow::Result<()> {
    match unit {
        Unit::Index(_) => {
            crate::failpoint!("index-built", label);
        }
        Unit::Constraints(_) => {
            crate::failpoint!("constraints-attached", label);
        }
        _ => {}
    }
    Ok(())
}

/// The group's index builds and constraints, inside the caller's
/// transaction.
async fn build_group(
    shared: &Shared,
    conn: &tokio_postgres::Client,
    tables: &[(Arc<Table>, TableReport)],
) -> anyhow::Result<()> {
    let rules = &shared.plan.rules;
    let if_not_exists = shared.index_if_not_exists();
    for (table, _) in tables {
        for index in buildable(table).filter(|i| rules.builds_index(i)) {
            build_index(conn, index, if_not_exists).await?;
        }
        if rules.constraints_to_attach(table).is_some() {
            attach_constraints(conn, table).await?;
        }
    }
    Ok(())
}

/// `ANALYZE t1, t2, ...` for the group, recorded as each table's vacuum
/// unit; on failure each table is analyzed alone, so that it is told
/// against its own unit.
async fn analyze_group(shared: &Arc<Shared>, tables: &[(Arc<Table>, TableReport)]) {
    let rules = &shared.plan.rules;
    let analyzed: Vec<&Table> = tables
        .iter()
        .map(|(t, _)| t.as_ref())
        .filter(|t| rules.analyze(t).is_some())
        .collect();
    if analyzed.is_empty() {
        return;
    }
    let units: Vec<(Unit, String, i64)> = analyzed
        .iter()
        .map(|t| (Unit::Vacuum(t.oid), t.label(), 0))
        .collect();
    let together = async {
        shared.ledger.start_many(&units)?;
        let conn = shared.pools.index.get().await?;
        for sql in rules.analyze_together(&analyzed) {
            let started = Instant::now();
            conn.batch_execute(&sql)
                .await
                .with_context(|| format!("{sql} on the target"))?;
            shared.costs.since(Cost::Analyze, started);
        }
        let done: Vec<(Unit, u64, u64)> = units.iter().map(|(u, _, _)| (u.clone(), 0, 0)).collect();
        shared.ledger.done_many(&done)
    }
    .await;
    if let Err(e) = together {
        tracing::debug!("analyzing a group of small tables failed ({e:#}): one by one");
        for table in analyzed {
            if let Some(sql) = rules.analyze(table) {
                let sql = &sql;
                let _ = shared
                    .run_target_unit(
                        &Unit::Vacuum(table.oid),
                        &table.label(),
                        shared.pools.index.get(),
                        |conn| async move {
                            conn.batch_execute(sql)
                                .await
                                .with_context(|| format!("{sql} on the target"))
                        },
                    )
                    .await;
            }
        }
    }
    shared.timings.index_work_ended();
}

/// Build the indexes of a partitioned table whose partitions are all
/// complete, one after the other on one connection (each is a catalog
/// change, no scan), then count the table complete.
pub(super) async fn build_parent(shared: Arc<Shared>, parent: Arc<PartitionedTable>) {
    for index in &parent.indexes {
        if !shared.plan.rules.builds_parent_index(index) {
            continue;
        }
        let parent = &parent;
        let result = shared
            .run_target_unit(
                &Unit::ParentIndex(index.index.oid),
                &index.index.label(),
                shared.pools.ddl.get(),
                |conn| async move { build_parent_index(&conn, &parent.qualified(), index).await },
            )
            .await;
        if result.is_err() {
            // Its foreign keys and its own parent wait for post-data.
            return;
        }
    }
    shared.timings.index_work_ended();
    table_complete(&shared, parent.oid);
}

/// A table (plain, or partitioned with its indexes built) is complete: build
/// the indexes of its partitioned parent once that one's partitions all are,
/// and start every foreign key whose two tables now are.
pub(super) fn table_complete(shared: &Arc<Shared>, oid: u32) {
    let ready = crate::sync::lock(&shared.schedule).table_complete(oid);
    if let Some(p) = ready.parent {
        shared.spawn_after(build_parent(shared.clone(), p));
    }
    for fk in ready.foreign_keys {
        let Some(validate) = shared.plan.rules.foreign_key(&fk) else {
            continue;
        };
        let s = shared.clone();
        shared.spawn_after(async move {
            let label = format!("{} {}", fk.table, fk.name);
            let fk = &fk;
            // Its failure is reported; nothing else waits for it.
            let _ = s
                .run_target_unit(
                    &Unit::ForeignKey(fk.oid),
                    &label,
                    s.pools.index.get(),
                    |conn| async move {
                        add_foreign_key(&conn, fk, validate).await?;
                        crate::failpoint!(
                            "foreign-key-added",
                            &format!("{} {}", fk.table, fk.name)
                        );
                        Ok(())
                    },
                )
                .await;
            s.timings.index_work_ended();
        });
    }
}
