//! Resolving the filters against the source catalog, under the run's
//! snapshot, into the set of objects left out.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;
use tracing::{info, warn};

use super::depends::{closure, Edge, Obj, PG_CLASS, PG_EXTENSION, PG_NAMESPACE};
use super::{Filters, Kind, SourceNames};
use crate::catalog::queries::{NOT_EXTENSION_MEMBER, SYSTEM_SCHEMAS};
use crate::catalog::Catalog;

/// A relation of the source named in the restore list.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RelName {
    pub schema: String,
    /// As stored (the tag of TABLE, SEQUENCE OWNED BY... entries).
    pub name: String,
    /// As `quote_ident` prints it (the tag of COMMENT and ACL entries).
    pub quoted: String,
}

/// The filters applied to one source: what the run leaves out. Saved with
/// the catalog, so that a resumed run leaves out exactly the same.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selection {
    /// Every object left out, by `(classid, objid)`, dependents included.
    pub excluded: BTreeSet<Obj>,
    pub schemas: BTreeSet<String>,
    /// Schemas left out by the filters but created all the same, holding
    /// only the sequences that kept tables of other schemas call in their
    /// column defaults: nothing else of theirs is restored.
    #[serde(default)]
    pub partial_schemas: BTreeSet<String>,
    pub extensions: BTreeSet<String>,
    /// Relations (and indexes) left out, for entries that carry names only.
    pub relations: BTreeSet<RelName>,
    /// `(schema, tag)` of COMMENT/ACL entries of other objects left out
    /// (constraints, triggers, policies, rules on kept tables).
    pub tags: BTreeSet<(String, String)>,
    /// Sequences kept although their owning table is left out: their
    /// `SEQUENCE OWNED BY` is.
    pub orphaned_sequences: BTreeSet<RelName>,
    /// Tables and materialized views whose rows are not copied / refreshed.
    pub no_data: BTreeSet<u32>,
}

impl Selection {
    pub fn is_excluded(&self, classid: u32, oid: u32) -> bool {
        self.excluded.contains(&(classid, oid))
    }

    /// Leave out of the catalog what is left out, and mark the tables whose
    /// data is not copied (their size no longer counts towards the work).
    pub fn apply(&self, catalog: &mut Catalog) {
        catalog
            .tables
            .retain(|t| !self.is_excluded(PG_CLASS, t.oid));
        for t in &mut catalog.tables {
            let t = std::sync::Arc::make_mut(t);
            t.indexes.retain(|i| !self.is_excluded(PG_CLASS, i.oid));
            if self.no_data.contains(&t.oid) {
                t.copy_data = false;
                t.bytes = 0;
                t.estimated_rows = 0.0;
            }
        }
        catalog
            .sequences
            .retain(|s| !self.is_excluded(PG_CLASS, s.oid));
        // A key on or to a table left out is not restored at all (not even
        // NOT VALID, as a key to a table whose data is excluded would be).
        catalog.foreign_keys.retain(|k| {
            !self.is_excluded(PG_CLASS, k.table_oid)
                && !self.is_excluded(PG_CLASS, k.referenced_oid)
        });
        // A parent left out, or one with a partition left out (it is then no
        // longer in the copied set), is left to post-data as a whole.
        catalog
            .partitioned
            .retain(|p| !self.is_excluded(PG_CLASS, p.oid));
        for p in &mut catalog.partitioned {
            p.indexes
                .retain(|i| !self.is_excluded(PG_CLASS, i.index.oid));
            for i in &mut p.indexes {
                i.children.retain(|c| !self.is_excluded(PG_CLASS, c.oid));
            }
        }
    }
}

struct Relation {
    oid: u32,
    name: RelName,
    kind: char,
    parent: Option<u32>,
}

/// Relations, indexes included, with the parent of each partition.
fn relations_sql() -> String {
    format!(
        "SELECT c.oid, n.nspname, c.relname, quote_ident(c.relname), c.relkind::text, \
                (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition) \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v', 'S', 'i', 'I') \
            AND {SYSTEM_SCHEMAS} AND {NOT_EXTENSION_MEMBER}"
    )
}

/// Dependencies between user objects (OIDs below 16384 belong to the
/// server, and only `public` among them can be filtered, as a referenced
/// object). Extension membership ('e') is left aside: leaving out an
/// extension does not leave out the tables that use its types.
const DEPEND_SQL: &str = "\
    SELECT classid, objid, refclassid, refobjid, deptype::text FROM pg_depend \
     WHERE deptype IN ('n', 'a', 'i', 'P', 'S') AND objid >= 16384";

/// COMMENT/ACL tags of left-out objects that hang off a table.
const TAGS_SQL: &str = "\
    SELECT n.nspname, 'CONSTRAINT ' || quote_ident(c.conname) || ' ON ' || quote_ident(r.relname) \
      FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
      JOIN pg_namespace n ON n.oid = r.relnamespace WHERE c.oid = ANY($1) \
    UNION ALL \
    SELECT n.nspname, 'TRIGGER ' || quote_ident(t.tgname) || ' ON ' || quote_ident(r.relname) \
      FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid \
      JOIN pg_namespace n ON n.oid = r.relnamespace WHERE t.oid = ANY($1) \
    UNION ALL \
    SELECT n.nspname, 'POLICY ' || quote_ident(p.polname) || ' ON ' || quote_ident(r.relname) \
      FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid \
      JOIN pg_namespace n ON n.oid = r.relnamespace WHERE p.oid = ANY($1) \
    UNION ALL \
    SELECT n.nspname, 'RULE ' || quote_ident(w.rulename) || ' ON ' || quote_ident(r.relname) \
      FROM pg_rewrite w JOIN pg_class r ON r.oid = w.ev_class \
      JOIN pg_namespace n ON n.oid = r.relnamespace WHERE w.oid = ANY($1)";

/// Resolve `filters` on `client` (inside the run's snapshot). Warns about
/// entries that match nothing and about tables left out only because they
/// depend on filtered objects.
pub async fn resolve(filters: &Filters, client: &Client) -> Result<Selection> {
    let schemas: Vec<(u32, String)> = client
        .query(
            &format!("SELECT n.oid, n.nspname FROM pg_namespace n WHERE {SYSTEM_SCHEMAS}"),
            &[],
        )
        .await
        .context("listing source schemas")?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let relations: Vec<Relation> = client
        .query(&relations_sql(), &[])
        .await
        .context("listing source relations")?
        .iter()
        .map(|r| -> Result<_> {
            Ok(Relation {
                oid: r.try_get(0)?,
                name: RelName {
                    schema: r.try_get(1)?,
                    name: r.try_get(2)?,
                    quoted: r.try_get(3)?,
                },
                kind: r.try_get::<_, String>(4)?.chars().next().unwrap_or('r'),
                parent: r.try_get(5)?,
            })
        })
        .collect::<Result<_>>()?;
    let extensions: Vec<(u32, String)> = client
        .query("SELECT oid, extname FROM pg_extension", &[])
        .await
        .context("listing source extensions")?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;

    warn_unmatched(filters, &schemas, &relations, &extensions);

    let mut seeds: BTreeSet<Obj> = BTreeSet::new();
    let mut sel = Selection::default();
    for (oid, name) in &schemas {
        if filters.schema_excluded(name) {
            seeds.insert((PG_NAMESPACE, *oid));
            sel.schemas.insert(name.clone());
        }
    }
    let by_oid: HashMap<u32, &Relation> = relations.iter().map(|r| (r.oid, r)).collect();
    for r in &relations {
        let n = &r.name;
        let out = match r.kind {
            'i' | 'I' => filters.index_excluded(&n.schema, &n.name),
            // Named like a table, but only a request: the closure keeps a
            // sequence that a kept table owns or calls.
            'S' => filters.table_excluded(&n.schema, &n.name, 'r'),
            _ => relation_excluded(filters, r, &by_oid),
        };
        if out || filters.schema_excluded(&n.schema) {
            seeds.insert((PG_CLASS, r.oid));
        }
    }

    let edges: Vec<Edge> = client
        .query(DEPEND_SQL, &[])
        .await
        .context("reading source dependencies")?
        .iter()
        .map(|r| -> Result<_> {
            Ok(Edge {
                dependent: (r.try_get(0)?, r.try_get(1)?),
                referenced: (r.try_get(2)?, r.try_get(3)?),
                deptype: r.try_get::<_, String>(4)?.chars().next().unwrap_or('n'),
            })
        })
        .collect::<Result<_>>()?;
    let sequences: BTreeSet<u32> = relations
        .iter()
        .filter(|r| r.kind == 'S')
        .map(|r| r.oid)
        .collect();
    let result = closure(&edges, &seeds, &sequences);
    sel.excluded = result.excluded;
    keep_schemas_of_kept_sequences(&mut sel, &schemas, &relations);

    let mut cascaded = Vec::new();
    for r in &relations {
        if sel.is_excluded(PG_CLASS, r.oid) {
            sel.relations.insert(r.name.clone());
            if !seeds.contains(&(PG_CLASS, r.oid)) && "rpmfv".contains(r.kind) {
                cascaded.push(format!("{}.{}", r.name.schema, r.name.name));
            }
        } else if "rpm".contains(r.kind)
            && filters.table_data_excluded(&r.name.schema, &r.name.name)
        {
            sel.no_data.insert(r.oid);
        }
        if result.kept_owned_sequences.contains(&r.oid) {
            sel.orphaned_sequences.insert(r.name.clone());
        }
    }
    if !cascaded.is_empty() {
        warn!(
            "also left out, as they depend on filtered objects: {}",
            super::cap(&cascaded.join(", "))
        );
    }
    for (oid, name) in &extensions {
        if filters.extension_excluded(name) {
            sel.excluded.insert((PG_EXTENSION, *oid));
            sel.extensions.insert(name.clone());
        }
    }
    let others: Vec<u32> = sel
        .excluded
        .iter()
        .filter(|(c, _)| *c != PG_CLASS && *c != PG_NAMESPACE)
        .map(|(_, o)| *o)
        .collect();
    for row in client.query(TAGS_SQL, &[&others]).await? {
        sel.tags.insert((row.try_get(0)?, row.try_get(1)?));
    }
    info!(
        "filters leave out {} schemas, {} relations, {} extensions; data of {} tables",
        sel.schemas.len(),
        sel.relations.len(),
        sel.extensions.len(),
        sel.no_data.len()
    );
    Ok(sel)
}

/// A sequence kept in a left-out schema (the default of a kept table of
/// another schema calls it, inline in its `CREATE TABLE`): the schema is
/// created for it, and only for it.
fn keep_schemas_of_kept_sequences(
    sel: &mut Selection,
    schemas: &[(u32, String)],
    relations: &[Relation],
) {
    let mut kept: Vec<String> = Vec::new();
    for r in relations.iter().filter(|r| r.kind == 'S') {
        let schema = &r.name.schema;
        let left_out = sel.schemas.contains(schema) || sel.partial_schemas.contains(schema);
        if !left_out || sel.is_excluded(PG_CLASS, r.oid) {
            continue;
        }
        kept.push(format!("{schema}.{}", r.name.name));
        if sel.schemas.remove(schema) {
            sel.partial_schemas.insert(schema.clone());
            if let Some((oid, _)) = schemas.iter().find(|(_, n)| n == schema) {
                sel.excluded.remove(&(PG_NAMESPACE, *oid));
            }
        }
    }
    if !kept.is_empty() {
        let partial: Vec<&str> = sel.partial_schemas.iter().map(String::as_str).collect();
        warn!(
            "schemas {} are left out, but kept tables call their sequences {} in column \
             defaults: these schemas are created with those sequences only",
            super::cap(&partial.join(", ")),
            super::cap(&kept.join(", "))
        );
    }
}

/// Whether a relation is filtered by name. Under `include-only-table`, a
/// partition whose parent (at any level) is listed is included with it.
fn relation_excluded(filters: &Filters, r: &Relation, by_oid: &HashMap<u32, &Relation>) -> bool {
    let n = &r.name;
    if !filters.table_excluded(&n.schema, &n.name, r.kind) {
        return false;
    }
    if filters.get(Kind::IncludeOnlyTable).is_empty() || filters.schema_excluded(&n.schema) {
        return true;
    }
    let mut parent = r.parent;
    while let Some(p) = parent.and_then(|p| by_oid.get(&p)) {
        if !filters.table_excluded(&p.name.schema, &p.name.name, p.kind) {
            return false;
        }
        parent = p.parent;
    }
    true
}

fn warn_unmatched(
    filters: &Filters,
    schemas: &[(u32, String)],
    relations: &[Relation],
    extensions: &[(u32, String)],
) {
    let pair = |r: &Relation| (r.name.schema.clone(), r.name.name.clone());
    let names = SourceNames {
        schemas: schemas.iter().map(|(_, s)| s.clone()).collect(),
        relations: relations
            .iter()
            .filter(|r| !"iI".contains(r.kind))
            .map(pair)
            .collect(),
        indexes: relations
            .iter()
            .filter(|r| "iI".contains(r.kind))
            .map(pair)
            .collect(),
        extensions: extensions.iter().map(|(_, e)| e.clone()).collect(),
    };
    const SHOWN: usize = 10;
    let (shown, total) = filters.unmatched(&names, SHOWN);
    if total > 0 {
        let more = match total - shown.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        warn!(
            "filter entries that match nothing on the source: {}{more}",
            super::cap(&shown.join("; "))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Selection, PG_CLASS};
    use crate::catalog::{Catalog, Table};
    use crate::foreign_keys::ForeignKey;

    /// A key of a table left out, or to one, would otherwise be added NOT
    /// VALID when the table it references has its data excluded (seen with
    /// `[exclude-table]` of a table referencing a partition whose data is
    /// excluded: "relation ... does not exist").
    #[test]
    fn keys_on_or_to_a_table_left_out_are_left_out() {
        let mut catalog = Catalog {
            tables: vec![
                Table::for_test(1, 0),
                Table::for_test(2, 0),
                Table::for_test(3, 0),
            ]
            .into_iter()
            .map(Into::into)
            .collect(),
            foreign_keys: vec![
                ForeignKey::for_test(1, 2),
                ForeignKey::for_test(3, 2),
                ForeignKey::for_test(2, 1),
            ],
            ..Catalog::default()
        };
        let selection = Selection {
            excluded: [(PG_CLASS, 3)].into_iter().collect(),
            no_data: [1].into_iter().collect(),
            ..Selection::default()
        };
        selection.apply(&mut catalog);
        let kept: Vec<u32> = catalog.foreign_keys.iter().map(|k| k.oid).collect();
        assert_eq!(kept, vec![1002, 2001]);
    }
}
