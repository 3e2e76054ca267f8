//! `--drop-if-exists` drops the target's tables with CASCADE, which would
//! also take the target's own objects built on them (a view, a foreign key
//! from a table the source does not have, a partition, a policy...): those
//! the run does not recreate are listed, and the drop refused, unless the
//! user confirmed with `--drop-cascade`.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::error::Failure;
use crate::filters::Selection;

/// The target tables `--drop-if-exists` is about to drop, by schema and name.
pub struct DroppedTables<'a> {
    pub schemas: Vec<&'a str>,
    pub names: Vec<&'a str>,
}

/// Everything `DROP TABLE ... CASCADE` of the tables would drop that is not a
/// part of one of them (their indexes, constraints, triggers, toast, row
/// type, owned sequences): the objects whose loss would go unnoticed. A
/// relation dropped whole stands for its own parts, an object for its
/// internal parts (a foreign key for its triggers, a table for its toast
/// table and row type). pg_depend is walked the
/// way DROP walks it: whatever depends on a dropped object goes, and an
/// object another one is an internal part of (a view's rule) takes it along.
const CASCADE_VICTIMS: &str = "\
WITH RECURSIVE
tables AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))
),
dropped(classid, objid) AS (
    SELECT 'pg_class'::regclass::oid, oid FROM tables
    UNION
    -- LATERAL: one index lookup per object, not a scan of pg_depend per step.
    SELECT e.classid, e.objid FROM dropped x, LATERAL (
        SELECT d.classid, d.objid FROM pg_depend d
         WHERE d.refclassid = x.classid AND d.refobjid = x.objid AND d.deptype IN ('n', 'a', 'i')
        UNION ALL
        SELECT d.refclassid, d.refobjid FROM pg_depend d
         WHERE d.classid = x.classid AND d.objid = x.objid AND d.deptype = 'i'
    ) e
),
-- Objects that are an internal part of a dropped one (a foreign key's triggers).
internal_parts AS MATERIALIZED (
    SELECT d.classid, d.objid FROM dropped y
      JOIN pg_depend d ON d.refclassid = y.classid AND d.refobjid = y.objid AND d.deptype = 'i'
),
owned AS MATERIALIZED (
    SELECT x.classid, x.objid, CASE x.classid
        WHEN 'pg_class'::regclass THEN coalesce(
            (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = x.objid),
            (SELECT d.refobjid FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = x.objid AND s.relkind = 'S'
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1),
            x.objid)
        WHEN 'pg_constraint'::regclass THEN
            (SELECT nullif(conrelid, 0) FROM pg_constraint WHERE oid = x.objid)
        WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = x.objid)
        WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = x.objid)
        WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = x.objid)
        WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = x.objid)
        WHEN 'pg_statistic_ext'::regclass THEN
            (SELECT stxrelid FROM pg_statistic_ext WHERE oid = x.objid)
        WHEN 'pg_type'::regclass THEN
            (SELECT coalesce(nullif(t.typrelid, 0), nullif(e.typrelid, 0))
               FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem WHERE t.oid = x.objid)
        END AS relid
      FROM dropped x
)
SELECT pg_describe_object(o.classid, o.objid, 0), a.type, a.object_names, a.object_args
  FROM owned o, pg_identify_object_as_address(o.classid, o.objid, 0) a
 WHERE (o.relid IS NULL OR o.relid NOT IN (SELECT oid FROM tables))
   AND NOT (o.relid IS NOT NULL AND o.relid <> o.objid
            AND o.relid IN (SELECT objid FROM dropped WHERE classid = 'pg_class'::regclass))
   AND NOT EXISTS (
       SELECT FROM internal_parts p WHERE p.classid = o.classid AND p.objid = o.objid)
 ORDER BY 1";

/// A target object the drop would take along.
struct Victim {
    description: String,
    kind: String,
    names: Vec<String>,
    args: Vec<String>,
}

/// Refuse `--drop-if-exists` when dropping `tables` on the target would
/// also drop objects this run does not recreate: objects the source lacks,
/// or that `--filters` leaves out. With `confirmed` (`--drop-cascade`),
/// they are only logged.
pub async fn refuse_lost_dependents(
    source: &Client,
    target: &Client,
    tables: &DroppedTables<'_>,
    selection: &Selection,
    confirmed: bool,
) -> Result<()> {
    let rows = target
        .query(CASCADE_VICTIMS, &[&tables.schemas, &tables.names])
        .await
        .context("listing the target objects that depend on the tables to drop")?;
    let mut lost = Vec::new();
    for row in &rows {
        let victim = Victim {
            description: row.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
            kind: row.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
            names: row
                .try_get::<_, Option<Vec<String>>>(2)?
                .unwrap_or_default(),
            args: row
                .try_get::<_, Option<Vec<String>>>(3)?
                .unwrap_or_default(),
        };
        if !recreated(source, &victim, selection).await {
            lost.push(victim.description);
        }
    }
    if lost.is_empty() {
        return Ok(());
    }
    if confirmed {
        tracing::warn!(
            "--drop-cascade: dropping {} target object(s) the source does not have: {}",
            lost.len(),
            lost.join(", ")
        );
        return Ok(());
    }
    Err(Failure::target(format!(
        "--drop-if-exists would also drop {} object(s) of the target that this run does not \
         recreate: {}; nothing was dropped: move or drop them yourself, or confirm with \
         --drop-cascade",
        lost.len(),
        shorten(&lost, 20)
    ))
    .into())
}

/// Whether the source has the same object (same kind and name, as
/// `pg_get_object_address` resolves it) and the run restores it.
async fn recreated(source: &Client, victim: &Victim, selection: &Selection) -> bool {
    let found = source
        .query_one(
            "SELECT classid, objid FROM pg_get_object_address($1, $2, $3)",
            &[&victim.kind, &victim.names, &victim.args],
        )
        .await;
    match found {
        Ok(row) => match (row.try_get::<_, u32>(0), row.try_get::<_, u32>(1)) {
            (Ok(classid), Ok(objid)) => !selection.is_excluded(classid, objid),
            _ => false,
        },
        // Not on the source (or of a kind it cannot name): not recreated.
        Err(_) => false,
    }
}

/// The first `max` items, and how many more there are.
fn shorten(items: &[String], max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(max) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
