//! `compare --filters`: only what a run with the same filters copies is
//! compared. The selection is resolved on the source (inside the compare's
//! snapshot); objects are then matched by name, which both sides share.

use std::collections::HashSet;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::filters::{resolve, Filters, Selection};

/// Catalog OIDs of `pg_depend.classid` for the objects named below.
const PG_TYPE: u32 = 1247;
const PG_PROC: u32 = 1255;
const PG_CLASS: u32 = 1259;
const PG_CONSTRAINT: u32 = 2606;
const PG_TRIGGER: u32 = 2620;
const PG_NAMESPACE: u32 = 2615;
const PG_EXTENSION: u32 = 3079;
const PG_POLICY: u32 = 3256;

/// Leave out of a data comparison the tables and sequences the filters
/// leave out, and the tables whose data they exclude.
pub async fn apply_to_catalog(
    filters: &Filters,
    source: &Client,
    catalog: &mut Catalog,
) -> Result<()> {
    if filters.is_empty() {
        return Ok(());
    }
    let selection = resolve(filters, source)
        .await
        .context("applying --filters to the source catalog")?;
    selection.apply(catalog);
    catalog.tables.retain(|t| t.copy_data);
    Ok(())
}

/// The excluded objects under the names `compare schema` gives them
/// (`format('%I.%I', ...)`, as in `schema_facts`).
#[derive(Debug, Default)]
pub struct ExcludedNames {
    schemas: HashSet<String>,
    /// Relations, columns' tables, constraints, triggers, policies, types,
    /// functions.
    objects: HashSet<String>,
    extensions: HashSet<String>,
    /// Materialized views left unpopulated by `exclude-table-data`.
    unpopulated: HashSet<String>,
}

/// Each excluded object's name, computed by the source server itself so the
/// quoting is exactly that of the facts.
const NAMES_SQL: &str = "\
    SELECT 'schema', format('%I', n.nspname) FROM pg_namespace n WHERE n.oid = ANY($1) \
    UNION ALL \
    SELECT 'extension', format('%I', x.extname) FROM pg_extension x WHERE x.oid = ANY($2) \
    UNION ALL \
    SELECT 'object', format('%I.%I', n.nspname, c.relname) FROM pg_class c \
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($3) \
    UNION ALL \
    SELECT 'object', format('%I.%I.%I', n.nspname, t.relname, k.conname) FROM pg_constraint k \
      JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE k.oid = ANY($4) \
    UNION ALL \
    SELECT 'object', format('%I.%I.%I', n.nspname, t.relname, g.tgname) FROM pg_trigger g \
      JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE g.oid = ANY($5) \
    UNION ALL \
    SELECT 'object', format('%I.%I.%I', n.nspname, t.relname, p.polname) FROM pg_policy p \
      JOIN pg_class t ON t.oid = p.polrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE p.oid = ANY($6) \
    UNION ALL \
    SELECT 'object', format('%I.%I', n.nspname, y.typname) FROM pg_type y \
      JOIN pg_namespace n ON n.oid = y.typnamespace WHERE y.oid = ANY($7) \
    UNION ALL \
    SELECT 'object', format('%I.%I(%s)', n.nspname, f.proname, \
                            pg_get_function_identity_arguments(f.oid)) FROM pg_proc f \
      JOIN pg_namespace n ON n.oid = f.pronamespace WHERE f.oid = ANY($8) \
    UNION ALL \
    SELECT 'unpopulated', format('%I.%I', n.nspname, c.relname) FROM pg_class c \
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($9) AND c.relkind = 'm'";

impl ExcludedNames {
    /// Resolve `filters` on the source; `None` when there are none.
    pub async fn read(filters: &Filters, source: &Client) -> Result<Option<ExcludedNames>> {
        if filters.is_empty() {
            return Ok(None);
        }
        let selection = resolve(filters, source)
            .await
            .context("applying --filters on the source")?;
        let oids = |class: u32| -> Vec<u32> { of_class(&selection, class) };
        let rows = source
            .query(
                NAMES_SQL,
                &[
                    &oids(PG_NAMESPACE),
                    &oids(PG_EXTENSION),
                    &oids(PG_CLASS),
                    &oids(PG_CONSTRAINT),
                    &oids(PG_TRIGGER),
                    &oids(PG_POLICY),
                    &oids(PG_TYPE),
                    &oids(PG_PROC),
                    &selection.no_data.iter().copied().collect::<Vec<u32>>(),
                ],
            )
            .await
            .context("naming the objects --filters leaves out")?;
        let mut names = ExcludedNames::default();
        for r in rows {
            let (kind, name): (&str, String) = (r.try_get(0)?, r.try_get(1)?);
            match kind {
                "schema" => names.schemas.insert(name),
                "extension" => names.extensions.insert(name),
                "unpopulated" => names.unpopulated.insert(name),
                _ => names.objects.insert(name),
            };
        }
        Ok(Some(names))
    }

    /// Whether a fact `(kind, object, parent)` is about a left-out object.
    pub fn skips(&self, kind: &str, object: &str, parent: Option<&str>) -> bool {
        match kind {
            "schema" => self.schemas.contains(object),
            "extension" => self.extensions.contains(object),
            "database" | "role in database" => false,
            _ => {
                self.objects.contains(object)
                    || parent.is_some_and(|p| self.objects.contains(p))
                    || self.schemas.iter().any(|s| {
                        object
                            .strip_prefix(s.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                    })
            }
        }
    }

    /// Whether an attribute differs only because of the filters: a kept
    /// sequence owned by a left-out table is owned by nothing on the target,
    /// and a materialized view whose data is excluded is not populated.
    pub fn skips_attribute(&self, kind: &str, object: &str, attribute: &str, value: &str) -> bool {
        match (kind, attribute) {
            ("sequence", "owned by") => value
                .rmatch_indices('.')
                .any(|(i, _)| self.objects.contains(&value[..i])),
            ("materialized view", "populated") => self.unpopulated.contains(object),
            _ => false,
        }
    }
}

fn of_class(selection: &Selection, class: u32) -> Vec<u32> {
    selection
        .excluded
        .iter()
        .filter(|(c, _)| *c == class)
        .map(|(_, o)| *o)
        .collect()
}
