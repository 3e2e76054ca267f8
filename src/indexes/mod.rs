//! Indexes and the constraints that sit on them, built on the target as soon
//! as a table's data is in. Each index gets its own connection so that all
//! indexes of a table build at the same time; PRIMARY KEY and UNIQUE
//! constraints are then attached to their ready-made unique index.

pub mod memory;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::catalog::{Index, ParentIndex, Table};
use crate::sql::quote_ident;

/// Indexes we build with CREATE INDEX. Those behind EXCLUDE constraints are
/// created by their own ALTER TABLE (an exclusion index cannot be attached).
pub fn buildable(table: &Table) -> impl Iterator<Item = &Index> {
    table
        .indexes
        .iter()
        .filter(|i| !matches!(&i.constraint, Some(c) if c.kind == 'x'))
}

/// Build one index. With `if_not_exists`, an index the target already has
/// (left by an earlier run, or the user's own on a table they redefined) is
/// kept. It is looked up first: PostgreSQL checks a unique index against a
/// partitioned table's key before it looks at IF NOT EXISTS.
pub async fn build_index(target: &Client, index: &Index, if_not_exists: bool) -> Result<Duration> {
    let started = Instant::now();
    if if_not_exists && index_exists(target, index).await? {
        return Ok(started.elapsed());
    }
    let sql = if if_not_exists {
        add_if_not_exists(&index.definition)
    } else {
        index.definition.clone()
    };
    crate::connections::ddl(target, &sql)
        .await
        .with_context(|| format!("creating index {}", index.label()))?;
    Ok(started.elapsed())
}

async fn index_exists(target: &Client, index: &Index) -> Result<bool> {
    let qualified = crate::sql::quote_qualified(&index.schema, &index.name);
    let row = target
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .await
        .with_context(|| format!("looking for index {} on the target", index.label()))?;
    Ok(row.try_get(0)?)
}

fn add_if_not_exists(definition: &str) -> String {
    for prefix in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = definition.strip_prefix(prefix) {
            return format!("{prefix}IF NOT EXISTS {rest}");
        }
    }
    definition.to_string()
}

/// The ALTER TABLE that adds every PRIMARY KEY / UNIQUE / EXCLUDE constraint
/// of the table at once (one lock, one statement), skipping `existing` ones.
pub fn constraints_statement(table: &Table, existing: &[String]) -> Option<String> {
    let clauses: Vec<String> = table
        .indexes
        .iter()
        .filter(|index| {
            index
                .constraint
                .as_ref()
                .is_some_and(|c| !existing.contains(&c.name))
        })
        .filter_map(constraint_clause)
        .collect();
    if clauses.is_empty() {
        return None;
    }
    Some(format!(
        "ALTER TABLE ONLY {} {}",
        table.qualified(),
        clauses.join(", ")
    ))
}

/// `ADD CONSTRAINT ...` for the constraint `index` backs, if any.
pub fn constraint_clause(index: &Index) -> Option<String> {
    let c = index.constraint.as_ref()?;
    let name = quote_ident(&c.name);
    Some(match c.kind {
        'x' => format!("ADD CONSTRAINT {name} {}", c.definition),
        kind => {
            let what = if kind == 'p' { "PRIMARY KEY" } else { "UNIQUE" };
            let mut clause = format!(
                "ADD CONSTRAINT {name} {what} USING INDEX {}",
                quote_ident(&index.name)
            );
            if c.deferrable {
                clause.push_str(" DEFERRABLE");
                if c.deferred {
                    clause.push_str(" INITIALLY DEFERRED");
                }
            }
            clause
        }
    })
}

/// What pg_dump attaches to an index's own archive entry (which the post-data
/// restore skips for the indexes we build): CLUSTER ON, REPLICA IDENTITY and
/// per-column statistics targets.
pub fn index_properties_statements(table: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for index in &table.indexes {
        let name = crate::sql::quote_qualified(&index.schema, &index.name);
        for (column, target) in &index.column_statistics {
            out.push(format!(
                "ALTER INDEX {name} ALTER COLUMN {column} SET STATISTICS {target}"
            ));
        }
        if index.clustered {
            out.push(format!(
                "ALTER TABLE ONLY {} CLUSTER ON {}",
                table.qualified(),
                quote_ident(&index.name)
            ));
        }
        if index.replica_identity {
            out.push(format!(
                "ALTER TABLE ONLY {} REPLICA IDENTITY USING INDEX {}",
                table.qualified(),
                quote_ident(&index.name)
            ));
        }
    }
    out
}

/// Attach the table's index-backed constraints that the target lacks, then
/// the index properties that come with them.
pub async fn attach_constraints(target: &Client, table: &Table) -> Result<Duration> {
    let started = Instant::now();
    let existing: Vec<String> = target
        .query(
            "SELECT conname FROM pg_constraint WHERE conrelid = $1::text::regclass",
            &[&table.qualified()],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if let Some(sql) = constraints_statement(table, &existing) {
        crate::connections::ddl(target, &sql)
            .await
            .with_context(|| format!("adding constraints to {}", table.label()))?;
    }
    for sql in index_properties_statements(table) {
        crate::connections::ddl(target, &sql)
            .await
            .with_context(|| format!("setting index properties on {}", table.label()))?;
    }
    Ok(started.elapsed())
}

/// Build an index of a partitioned table as pg_dump's post-data does: the
/// index `ON ONLY` the parent (through its constraint when it backs one),
/// then each child index attached, which turns it valid once all are.
/// Idempotent for a resume: an existing index or constraint is kept, and
/// attaching an index already attached does nothing.
pub async fn build_parent_index(target: &Client, table: &str, parent: &ParentIndex) -> Result<()> {
    let index = &parent.index;
    match &index.constraint {
        Some(c) => {
            let exists = target
                .query_opt(
                    "SELECT 1 FROM pg_constraint WHERE conrelid = $1::text::regclass AND conname = $2",
                    &[&table, &c.name],
                )
                .await?
                .is_some();
            if !exists {
                crate::connections::ddl(
                    target,
                    &format!(
                        "ALTER TABLE ONLY {table} ADD CONSTRAINT {} {}",
                        quote_ident(&c.name),
                        c.definition
                    ),
                )
                .await
                .with_context(|| format!("adding constraint {} to {table}", c.name))?;
            }
        }
        None => {
            build_index(target, index, true).await?;
        }
    }
    let name = crate::sql::quote_qualified(&index.schema, &index.name);
    for child in &parent.children {
        crate::connections::ddl(
            target,
            &format!("ALTER INDEX {name} ATTACH PARTITION {}", child.qualified()),
        )
        .await
        .with_context(|| format!("attaching index {} to {}", child.name, index.label()))?;
    }
    for (column, stats) in &index.column_statistics {
        crate::connections::ddl(
            target,
            &format!("ALTER INDEX {name} ALTER COLUMN {column} SET STATISTICS {stats}"),
        )
        .await
        .with_context(|| format!("setting statistics on {}", index.label()))?;
    }
    if index.replica_identity {
        crate::connections::ddl(
            target,
            &format!(
                "ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {}",
                quote_ident(&index.name)
            ),
        )
        .await
        .with_context(|| format!("setting the replica identity of {table}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_not_exists_is_inserted_after_create_index() {
        assert_eq!(
            add_if_not_exists("CREATE UNIQUE INDEX a ON public.t USING btree (id)"),
            "CREATE UNIQUE INDEX IF NOT EXISTS a ON public.t USING btree (id)"
        );
        assert_eq!(
            add_if_not_exists("CREATE INDEX a ON public.t USING btree (id)"),
            "CREATE INDEX IF NOT EXISTS a ON public.t USING btree (id)"
        );
    }
}
