//! Foreign keys between copied tables, added as soon as both of their tables
//! are complete instead of at the end in post-data: first `NOT VALID` (a
//! short lock, no scan), then `VALIDATE CONSTRAINT`, which takes a weaker
//! lock and lets several validations run on one table at once. The result is
//! the source's constraint: validated, or NOT VALID exactly where the
//! source's is.
//!
//! A key whose referenced table (or a partition below it) has its rows left
//! out by `[exclude-table-data]` cannot be validated: it is added `NOT
//! VALID`, with a warning naming it, and validating it is left to the user
//! once the data is there.

use std::collections::HashSet;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::sql::quote_ident;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    pub oid: u32,
    pub name: String,
    /// The referencing table.
    pub table_oid: u32,
    /// `schema.table`, quoted.
    pub table: String,
    /// The referenced table.
    pub referenced_oid: u32,
    /// `pg_get_constraintdef` output.
    pub definition: String,
    pub validated: bool,
    /// The referenced table is partitioned: it is complete once its unique
    /// index is built and attached to its partitions' (data phase).
    #[serde(default)]
    pub references_partitioned: bool,
    /// The referencing table is partitioned: complete once its partitions
    /// are and its indexes are built (data phase).
    #[serde(default)]
    pub on_partitioned: bool,
}

impl ForeignKey {
    /// A validated key from `s.t<from>` to table `to`, for unit tests of the
    /// planning code.
    #[cfg(test)]
    pub fn for_test(from: u32, to: u32) -> ForeignKey {
        ForeignKey {
            oid: from * 1000 + to,
            name: format!("fk{from}_{to}"),
            table_oid: from,
            table: format!("s.t{from}"),
            referenced_oid: to,
            definition: String::new(),
            validated: true,
            references_partitioned: false,
            on_partitioned: false,
        }
    }
}

/// Foreign keys between copied tables, plain ($1) or partitioned ($2). The
/// per-partition clones of a key on a partitioned table (conparentid) come
/// with it; a key whose tables the data phase does not complete (filtered
/// out, or a partitioned table with a foreign-table partition) stays with
/// the post-data restore.
pub const FOREIGN_KEYS_SQL: &str = "\
    SELECT c.oid, c.conname, c.conrelid, format('%I.%I', n.nspname, r.relname), c.confrelid, \
           pg_get_constraintdef(c.oid), c.convalidated, c.confrelid = ANY($2), \
           c.conrelid = ANY($2) \
      FROM pg_constraint c \
      JOIN pg_class r ON r.oid = c.conrelid \
      JOIN pg_namespace n ON n.oid = r.relnamespace \
     WHERE c.contype = 'f' AND c.conparentid = 0 \
       AND (c.conrelid = ANY($1) OR c.conrelid = ANY($2)) \
       AND (c.confrelid = ANY($1) OR c.confrelid = ANY($2)) \
     ORDER BY c.conrelid, c.conname";

pub async fn read_foreign_keys(
    source: &Client,
    table_oids: &[u32],
    partitioned_oids: &[u32],
) -> Result<Vec<ForeignKey>> {
    let rows = source
        .query(FOREIGN_KEYS_SQL, &[&table_oids, &partitioned_oids])
        .await?;
    rows.iter()
        .map(|r| -> Result<_> {
            let (name, table): (String, String) = (r.try_get(1)?, r.try_get(3)?);
            let definition = crate::catalog::queries::definition_of(r, 5, || {
                format!("foreign key {name} on {table}")
            })?;
            Ok(ForeignKey {
                oid: r.try_get(0)?,
                name,
                table_oid: r.try_get(2)?,
                table,
                referenced_oid: r.try_get(4)?,
                definition,
                validated: r.try_get(6)?,
                references_partitioned: r.try_get(7)?,
                on_partitioned: r.try_get(8)?,
            })
        })
        .collect()
}

impl ForeignKey {
    /// `ONLY ` for a plain table; a partitioned table's key is on all its
    /// partitions.
    fn only(&self) -> &'static str {
        if self.on_partitioned {
            ""
        } else {
            "ONLY "
        }
    }

    /// The definition without a trailing NOT VALID (we always add that).
    fn bare_definition(&self) -> &str {
        self.definition
            .strip_suffix(" NOT VALID")
            .unwrap_or(&self.definition)
    }
}

/// The keys (by oid) whose referenced table, or a partition below it, has
/// its data excluded: its rows are not on the target, so the referencing
/// rows would fail a validation.
pub fn keys_to_excluded_data(catalog: &Catalog) -> HashSet<u32> {
    let mut empty: HashSet<u32> = catalog
        .tables
        .iter()
        .filter(|t| !t.copy_data)
        .map(|t| t.oid)
        .chain(catalog.selection.no_data.iter().copied())
        .collect();
    // A partitioned table lacks rows when any partition does, at any depth.
    loop {
        let more: Vec<u32> = catalog
            .partitioned
            .iter()
            .filter(|p| !empty.contains(&p.oid))
            .filter(|p| p.partitions.iter().any(|c| empty.contains(c)))
            .map(|p| p.oid)
            .collect();
        if more.is_empty() {
            break;
        }
        empty.extend(more);
    }
    catalog
        .foreign_keys
        .iter()
        .filter(|k| k.validated && empty.contains(&k.referenced_oid))
        .map(|k| k.oid)
        .collect()
}

/// One warning per key left `NOT VALID` because its referenced data is
/// excluded, saying what to run once the data is there.
pub fn warn_unvalidated(catalog: &Catalog, keys: &HashSet<u32>) {
    for k in catalog
        .foreign_keys
        .iter()
        .filter(|k| keys.contains(&k.oid))
    {
        tracing::warn!(
            "foreign key {} on {} is added NOT VALID: the data of the table it references is \
             excluded by the filters; once that data is there, run ALTER TABLE {}{} VALIDATE \
             CONSTRAINT {}",
            k.name,
            k.table,
            k.only(),
            k.table,
            quote_ident(&k.name)
        );
    }
}

/// Add the key `NOT VALID`, then validate it when the source's is valid and
/// `validate` (false when its referenced data is excluded). Idempotent: a
/// key left by an interrupted run is only validated. A validation that
/// fails drops the key again, so that a retry starts from nothing.
pub async fn add_foreign_key(target: &Client, fk: &ForeignKey, validate: bool) -> Result<()> {
    let existing = target
        .query_opt(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = $1::text::regclass AND conname = $2",
            &[&fk.table, &fk.name],
        )
        .await?;
    let name = quote_ident(&fk.name);
    let validated = match existing {
        Some(row) => row.try_get::<_, bool>(0)?,
        // A key on a partitioned table cannot be added NOT VALID before
        // PostgreSQL 18 (the message then says what the user can do), and
        // is added to every partition (without ONLY).
        None if fk.on_partitioned && !validate => {
            crate::connections::ddl(
                target,
                &format!(
                    "ALTER TABLE {} ADD CONSTRAINT {name} {} NOT VALID",
                    fk.table,
                    fk.bare_definition()
                ),
            )
            .await
            .with_context(|| {
                format!(
                    "adding foreign key {} on partitioned table {} NOT VALID, as the data it \
                     references is excluded by the filters (PostgreSQL before 18 cannot: \
                     exclude the data of {} too, or copy the data it references)",
                    fk.name, fk.table, fk.table
                )
            })?;
            return Ok(());
        }
        // VALIDATE CONSTRAINT leaves the key's clones on the referenced
        // partitions NOT VALID (seen on PostgreSQL 15), where the source's
        // are valid: add such a key as the source has it, in one statement,
        // as well as a key on a partitioned table (see above).
        None if fk.on_partitioned || (fk.references_partitioned && validate) => {
            crate::connections::ddl(
                target,
                &format!(
                    "ALTER TABLE {}{} ADD CONSTRAINT {name} {}",
                    fk.only(),
                    fk.table,
                    fk.definition
                ),
            )
            .await
            .with_context(|| format!("adding foreign key {} on {}", fk.name, fk.table))?;
            return Ok(());
        }
        None => {
            crate::connections::ddl(
                target,
                &format!(
                    "ALTER TABLE {}{} ADD CONSTRAINT {name} {} NOT VALID",
                    fk.only(),
                    fk.table,
                    fk.bare_definition()
                ),
            )
            .await
            .with_context(|| format!("adding foreign key {} on {}", fk.name, fk.table))?;
            false
        }
    };
    if fk.validated && validate && !validated {
        let checked = crate::connections::ddl(
            target,
            &format!(
                "ALTER TABLE {}{} VALIDATE CONSTRAINT {name}",
                fk.only(),
                fk.table
            ),
        )
        .await;
        if let Err(e) = checked {
            // Left NOT VALID, the key would make the post-data restore's (or
            // a resume's) ADD CONSTRAINT fail with "already exists" and hide
            // this error: take it away, best effort.
            let drop = format!(
                "ALTER TABLE {}{} DROP CONSTRAINT IF EXISTS {name}",
                fk.only(),
                fk.table
            );
            if let Err(d) = crate::connections::ddl(target, &drop).await {
                tracing::debug!("{drop}: {d:#}");
            }
            return Err(e)
                .with_context(|| format!("validating foreign key {} on {}", fk.name, fk.table));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{PartitionedTable, Table};

    fn fk(from: u32, to: u32, validated: bool) -> ForeignKey {
        ForeignKey {
            validated,
            ..ForeignKey::for_test(from, to)
        }
    }

    fn parent(oid: u32, partitions: &[u32]) -> PartitionedTable {
        PartitionedTable::for_test(oid, partitions)
    }

    #[test]
    fn keys_to_tables_without_their_rows_are_not_validated() {
        let mut no_data = Table::for_test(2, 0);
        no_data.copy_data = false;
        let catalog = Catalog {
            tables: vec![Table::for_test(1, 0), no_data, Table::for_test(3, 0)]
                .into_iter()
                .map(Into::into)
                .collect(),
            // 2 is a partition two levels below 21; 30 has all its rows.
            partitioned: vec![parent(20, &[2, 3]), parent(21, &[20]), parent(30, &[3])],
            foreign_keys: vec![
                fk(1, 2, true),
                fk(2, 1, true),  // from the empty table: it validates
                fk(1, 21, true), // a partition below lacks its rows
                fk(1, 30, true),
                fk(3, 2, false), // NOT VALID on the source anyway
            ],
            ..Catalog::default()
        };
        let mut keys: Vec<u32> = keys_to_excluded_data(&catalog).into_iter().collect();
        keys.sort();
        assert_eq!(keys, vec![1002, 1021]);
    }
}
