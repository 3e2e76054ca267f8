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
use crate::report::summary::TableReport;
use crate::workdir::state::Unit;

/// Everything that follows a table's data: all its indexes at once, then its
/// constraints, then VACUUM ANALYZE. Units done by an earlier run are skipped.
pub(super) async fn after_copy(shared: Arc<Shared>, table: Arc<Table>, mut report: TableReport) {
    let started = Instant::now();
    let rules = &shared.plan.rules;
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
                shared
                    .run_target_unit(
                        &unit,
                        &label,
                        shared.index_connection(),
                        |conn| async move {
                            build_index(&conn, index, if_not_exists).await?;
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
                    attach_constraints(&conn, table).await?;
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
                    conn.batch_execute(sql)
                        .await
                        .with_context(|| format!("{sql} on the target"))
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
