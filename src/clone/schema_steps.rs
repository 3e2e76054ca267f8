//! The schema parts of a clone: dump, pre-data restore, and the post-data
//! restore with what the data phase already built commented out.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::parallel_pre_data;
use super::toc_skips::{SkipOptions, TocSkips};
use super::CloneOptions;
use crate::catalog::Catalog;
use crate::connections::Endpoints;
use crate::filters::Selection;
use crate::indexes::buildable;
use crate::schema::{self, RestoreOptions, Section, TocEntry};
use crate::tools::PgTools;
use crate::workdir::state::Unit;
use crate::workdir::WorkDir;

/// Summary steps of the pre-data restore: the clone's making of large
/// objects' metadata, then of their comments and privileges.
pub const LARGE_OBJECT_METADATA: &str = "large objects: metadata";
pub const LARGE_OBJECT_COMMENTS_AND_PRIVILEGES: &str = "large objects: comments and privileges";

/// pg_dump of pre-data and post-data into one archive, under the snapshot.
pub async fn dump(
    tools: &PgTools,
    endpoints: &Endpoints,
    snapshot: Option<&str>,
    workdir: &WorkDir,
) -> Result<()> {
    let source = &endpoints.source;
    schema::dump(
        tools,
        &source.child_dbname_arg(),
        source.child_password(),
        snapshot,
        &workdir.archive(),
    )
    .await
    .context("dumping the source schema with pg_dump")
}

/// `--drop-if-exists`: drop the tables we are about to create.
pub async fn drop_tables(target: &Client, catalog: &Catalog) -> Result<()> {
    let names: Vec<String> = catalog.tables.iter().map(|t| t.qualified()).collect();
    for chunk in names.chunks(500) {
        target
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {} CASCADE",
                chunk.join(", ")
            ))
            .await
            .context("dropping existing target tables (--drop-if-exists)")?;
    }
    Ok(())
}

/// Write the pre-data use-list: everything but the schemas that already
/// exist on the target (ones created by hand) and what `--filters` leaves
/// out. `public` is kept: pg_dump (11 and later) never creates nor drops it
/// ("*not* creating schema, since initdb creates it"); its entry only sets
/// the owner, and pg_restore restores the schema's ACL and comment only
/// along with it. Leaving it out lost the source's owner and privileges of
/// `public`, such as the CREATE for PUBLIC that a PostgreSQL 14 or older
/// database has and a 15+ one does not.
///
/// The entries of `large_objects` (the ones the clone copies) are commented
/// out too, their BLOB and BLOB METADATA entries and the ACL, COMMENT and
/// SECURITY LABEL entries pg_dump 16 and older write for each: [`crate::blobs`] makes them
/// in batches, where pg_restore spends a round trip or two on each entry.
pub async fn write_pre_list(
    tools: &PgTools,
    target: &Client,
    workdir: &WorkDir,
    selection: &Selection,
    skips: SkipOptions,
    large_objects: &[u32],
) -> Result<PreList> {
    let by_tool: HashSet<u32> = large_objects.iter().copied().collect();
    let skipped = TocSkips::for_target(skips, target).await?;
    let existing: HashSet<String> = target
        .query("SELECT nspname FROM pg_namespace", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let filtered = selection.toc_filter();
    let keep_public = tools.major >= 11;
    let made_by_tool = |e: &TocEntry| {
        (!by_tool.is_empty() && matches!(e.desc.as_str(), "BLOB" | "BLOB METADATA"))
            || large_object_of(e).is_some_and(|oid| by_tool.contains(&oid))
    };
    let skip = |e: &TocEntry| {
        (e.desc == "SCHEMA" && existing.contains(&e.name) && !(keep_public && e.name == "public"))
            || filtered.skips(e)
            || skipped.skips(e)
            || made_by_tool(e)
    };
    // Written as the listing is parsed. The entries of the large objects
    // the clone makes are not kept past their line: nothing restored
    // depends on them, and a database of a hundred thousand holds as many.
    let mut use_list = schema::UseList::create(&workdir.pre_list())?;
    let mut written = Ok(());
    let mut kept = HashSet::new();
    let mut entries = schema::list_keeping(tools, &workdir.archive(), Section::PreData, |e| {
        let skipped = skip(e);
        if written.is_ok() {
            written = use_list.push(e, skipped);
        }
        if !skipped {
            kept.insert(e.dump_id);
        }
        !made_by_tool(e)
    })
    .await?;
    written?;
    use_list.finish()?;
    let mut dependencies = schema::dependencies(tools, &workdir.archive()).await?;
    for e in &mut entries {
        e.depends_on = dependencies.remove(&e.dump_id).unwrap_or_default();
    }
    Ok(PreList {
        path: workdir.pre_list(),
        entries,
        kept,
    })
}

/// The pre-data use-list written, with the listing it was made of.
pub struct PreList {
    pub path: std::path::PathBuf,
    /// The section's entries in archive order, with their dependencies,
    /// but those of the large objects the clone makes.
    pub entries: Vec<TocEntry>,
    /// The dump ids the use-list keeps.
    pub kept: HashSet<u32>,
}

/// The large object an ACL, COMMENT or SECURITY LABEL entry is about (its tag is
/// `LARGE OBJECT 16421`). Only the first word is the OID: the listing's
/// name split keeps the first words of an owner with spaces in the name.
fn large_object_of(e: &TocEntry) -> Option<u32> {
    match e.desc.as_str() {
        "ACL" | "COMMENT" | "SECURITY LABEL" => e
            .name
            .strip_prefix("LARGE OBJECT ")?
            .split(' ')
            .next()?
            .parse()
            .ok(),
        _ => None,
    }
}

/// Restore pre-data with the use-list of [`write_pre_list`], the metadata
/// of `large_objects` made first, by the clone, read on the source under
/// `snapshot` like the objects' list and contents. Returns how long the clone
/// spent on their metadata and on their comments and privileges, for the
/// summary.
#[allow(clippy::too_many_arguments)]
pub async fn restore_pre_data(
    tools: &PgTools,
    endpoints: &Endpoints,
    target: &Client,
    workdir: &WorkDir,
    selection: &Selection,
    large_objects: &[u32],
    snapshot: Option<&str>,
    opts: &CloneOptions,
    interrupted: bool,
) -> Result<Vec<(&'static str, Duration)>> {
    let list = write_pre_list(tools, target, workdir, selection, opts.skips, large_objects).await?;
    let mut steps = Vec::new();
    if !large_objects.is_empty() {
        let source = crate::snapshot::open_reader(&endpoints.source, snapshot).await?;
        let restore = opts.restore_options();
        let with_owners = !restore.no_owner;
        let started = Instant::now();
        crate::blobs::create_metadata(&source, target, large_objects, with_owners).await?;
        steps.push((LARGE_OBJECT_METADATA, started.elapsed()));
        let started = Instant::now();
        crate::blobs::copy_comments_and_privileges(
            &source,
            target,
            large_objects,
            !restore.no_acl,
            !restore.no_comments,
            with_owners,
        )
        .await?;
        crate::blobs::copy_security_labels(&source, target, large_objects).await?;
        steps.push((LARGE_OBJECT_COMMENTS_AND_PRIVILEGES, started.elapsed()));
    }
    let mut restore_opts = opts.restore_options();
    restore_opts.clean_if_exists |= interrupted;
    match parallel_pre_data::stages(&list.entries, &list.kept, &restore_opts)? {
        Some(stages) => {
            parallel_pre_data::restore(
                tools,
                endpoints,
                workdir,
                &list.entries,
                &stages,
                &restore_opts,
            )
            .await
        }
        None => {
            restore(
                tools,
                endpoints,
                workdir,
                Section::PreData,
                &list.path,
                &restore_opts,
            )
            .await
        }
    }
    .context("restoring pre-data with pg_restore")?;
    Ok(steps)
}

/// Restore post-data without the indexes, constraints and foreign keys the
/// data phase (of this command or an earlier step) already built: those
/// recorded done in the state.
pub async fn write_post_list(
    tools: &PgTools,
    endpoints: &Endpoints,
    workdir: &WorkDir,
    catalog: &Catalog,
    skips: SkipOptions,
    interrupted: bool,
) -> Result<std::path::PathBuf> {
    let skipped = TocSkips::without_target(skips);
    let done = workdir.state.ledger().done_units()?;
    let mut built_indexes = HashSet::new();
    let mut built_constraints = HashSet::new();
    for table in &catalog.tables {
        for index in buildable(table) {
            if done.contains(&Unit::Index(index.oid).key()) {
                built_indexes.insert(index.oid);
            }
        }
        if done.contains(&Unit::Constraints(table.oid).key()) {
            for index in &table.indexes {
                if let Some(c) = &index.constraint {
                    built_constraints.insert(c.oid);
                }
            }
        }
    }
    // Indexes of partitioned tables built in the data phase: their INDEX or
    // CONSTRAINT entry, and the INDEX ATTACH entries of their children. An
    // INDEX ATTACH entry has no oid; its tag is the child index's name.
    let mut attached: HashSet<(&str, &str)> = HashSet::new();
    for parent in &catalog.partitioned {
        for p in &parent.indexes {
            if !done.contains(&Unit::ParentIndex(p.index.oid).key()) {
                continue;
            }
            match &p.index.constraint {
                Some(c) => built_constraints.insert(c.oid),
                None => built_indexes.insert(p.index.oid),
            };
            for child in &p.children {
                attached.insert((child.schema.as_str(), child.name.as_str()));
            }
        }
    }
    let built_foreign_keys: HashSet<u32> = catalog
        .foreign_keys
        .iter()
        .filter(|k| done.contains(&Unit::ForeignKey(k.oid).key()))
        .map(|k| k.oid)
        .collect();
    // Added NOT VALID after the restore (add_unvalidated_keys), not by it.
    let unvalidated = crate::foreign_keys::keys_to_excluded_data(catalog);
    let entries = schema::list(tools, &workdir.archive(), Section::PostData).await?;
    // A post-data restore that was cut short created some objects already.
    let already = if interrupted {
        super::resume::existing_post_data(endpoints, &entries).await?
    } else {
        HashSet::new()
    };
    let filtered = catalog.selection.toc_filter();
    let ours = crate::stream::follow::setup::created_publication(&workdir.state)?;
    let skip = |e: &TocEntry| {
        filtered.skips(e)
            || skipped.skips(e)
            || already.contains(&e.dump_id)
            || ours.as_deref().is_some_and(|name| of_publication(e, name))
            || match e.desc.as_str() {
                "INDEX" => built_indexes.contains(&e.obj_oid),
                "CONSTRAINT" => built_constraints.contains(&e.obj_oid),
                "FK CONSTRAINT" => {
                    built_foreign_keys.contains(&e.obj_oid) || unvalidated.contains(&e.obj_oid)
                }
                "INDEX ATTACH" => {
                    attached.contains(&(e.schema.as_deref().unwrap_or(""), e.name.as_str()))
                }
                _ => false,
            }
    };
    schema::write_use_list(&entries, &skip, &workdir.post_list())?;
    Ok(workdir.post_list())
}

/// Whether `e` creates publication `name` or adds to it (a PUBLICATION
/// TABLE's tag is the publication's name, a space, the table's).
fn of_publication(e: &TocEntry, name: &str) -> bool {
    match e.desc.as_str() {
        "PUBLICATION" => e.name == name,
        "PUBLICATION TABLE" | "PUBLICATION TABLES IN SCHEMA" => e
            .name
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(' ')),
        _ => false,
    }
}

pub async fn restore_post_data(
    tools: &PgTools,
    endpoints: &Endpoints,
    workdir: &WorkDir,
    catalog: &Catalog,
    opts: &CloneOptions,
    interrupted: bool,
) -> Result<()> {
    write_post_list(tools, endpoints, workdir, catalog, opts.skips, interrupted).await?;
    restore(
        tools,
        endpoints,
        workdir,
        Section::PostData,
        &workdir.post_list(),
        &opts.restore_options(),
    )
    .await
    .context("restoring post-data with pg_restore")?;
    add_unvalidated_keys(endpoints, workdir, catalog).await
}

/// The foreign keys to tables whose data is excluded that the data phase
/// did not add (a step-by-step run, or a clone without that step): NOT
/// VALID, once post-data has built the indexes they need.
async fn add_unvalidated_keys(
    endpoints: &Endpoints,
    workdir: &WorkDir,
    catalog: &Catalog,
) -> Result<()> {
    let done = workdir.state.ledger().done_units()?;
    let keys: HashSet<u32> = crate::foreign_keys::keys_to_excluded_data(catalog)
        .into_iter()
        .filter(|&oid| !done.contains(&Unit::ForeignKey(oid).key()))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    crate::foreign_keys::warn_unvalidated(catalog, &keys);
    let target =
        crate::connections::connect(crate::connections::Side::Target, &endpoints.target).await?;
    for fk in catalog
        .foreign_keys
        .iter()
        .filter(|k| keys.contains(&k.oid))
    {
        crate::foreign_keys::add_foreign_key(&target, fk, false).await?;
        let unit = Unit::ForeignKey(fk.oid);
        workdir
            .state
            .ledger()
            .done_quick(&unit, &format!("{} {}", fk.table, fk.name), 0)?;
    }
    Ok(())
}

/// `pg_restore` of `section`'s entries in `list` into the target.
pub(super) async fn restore(
    tools: &PgTools,
    endpoints: &Endpoints,
    workdir: &WorkDir,
    section: Section,
    list: &std::path::Path,
    opts: &RestoreOptions,
) -> Result<()> {
    let target = &endpoints.target;
    schema::restore(
        tools,
        &target.child_dbname_arg(),
        target.child_password(),
        &workdir.archive(),
        section,
        list,
        opts,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(desc: &str, name: &str) -> TocEntry {
        TocEntry::named(desc, name)
    }

    #[test]
    fn our_publication_and_its_tables_are_recognised_and_no_other() {
        assert!(of_publication(
            &entry("PUBLICATION", "pgcopydb"),
            "pgcopydb"
        ));
        assert!(of_publication(
            &entry("PUBLICATION TABLE", "pgcopydb events"),
            "pgcopydb"
        ));
        assert!(of_publication(
            &entry("PUBLICATION TABLES IN SCHEMA", "pgcopydb app"),
            "pgcopydb"
        ));
        assert!(!of_publication(
            &entry("PUBLICATION", "pgcopydb2"),
            "pgcopydb"
        ));
        assert!(!of_publication(
            &entry("PUBLICATION TABLE", "pgcopydb2 events"),
            "pgcopydb"
        ));
        assert!(!of_publication(&entry("TABLE", "pgcopydb"), "pgcopydb"));
    }
}
