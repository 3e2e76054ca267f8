//! The rows of extension configuration tables: what pg_dump dumps for them
//! (`SELECT ... WHERE <extcondition>`), which a schema-only dump leaves out.
//!
//! The copy replaces, on the target, the rows matching the condition with
//! the source's: a user expects the target's configuration to equal the
//! source's afterwards, and running the step twice must not duplicate rows
//! or fail on a key. Rows outside the condition are the ones the extension's
//! own script creates; CREATE EXTENSION made them already and they stay.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::Client;
use tracing::info;

use super::order::dependencies_first;
use super::{ConfigRelation, Extension};
use crate::copy::copy_counted;
use crate::sql::quote_ident;

const CONFIG_SQL: &str = "\
    SELECT e.extname::text, c.oid, n.nspname::text, c.relname::text, c.relkind::text, \
           coalesce(e.extcondition[i], '') \
      FROM pg_extension e \
     CROSS JOIN LATERAL generate_subscripts(e.extconfig, 1) i \
      JOIN pg_class c ON c.oid = e.extconfig[i] \
      JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE e.oid = ANY($1) \
     ORDER BY array_position($1, e.oid), i";

/// Foreign keys between configuration tables: (referencing, referenced).
const FK_SQL: &str = "\
    SELECT conrelid, confrelid FROM pg_constraint \
     WHERE contype = 'f' AND conrelid = ANY($1) AND confrelid = ANY($1)";

/// The configuration relations of `extensions`, each table after the ones
/// its foreign keys reference.
pub async fn config_relations(
    source: &Client,
    extensions: &[Extension],
) -> Result<Vec<ConfigRelation>> {
    let oids: Vec<u32> = extensions.iter().map(|e| e.oid).collect();
    let relations: Vec<ConfigRelation> = source
        .query(CONFIG_SQL, &[&oids])
        .await
        .context("listing extension configuration tables")?
        .iter()
        .map(|r| -> Result<_> {
            Ok(ConfigRelation {
                extension: r.try_get(0)?,
                oid: r.try_get(1)?,
                schema: r.try_get(2)?,
                name: r.try_get(3)?,
                relkind: r.try_get::<_, String>(4)?.chars().next().unwrap_or('r'),
                condition: r.try_get(5)?,
            })
        })
        .collect::<Result<_>>()?;
    let rel_oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let mut deps: HashMap<u32, Vec<u32>> = HashMap::new();
    for r in source.query(FK_SQL, &[&rel_oids]).await? {
        deps.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(dependencies_first(relations, |r| r.oid, &deps))
}

/// Copy the configuration rows of `extensions` from `source` (a reader in
/// the run's snapshot) into `target`, in one target transaction. Returns
/// the number of rows copied.
pub async fn copy_config_data(
    source: &Client,
    target: &Client,
    extensions: &[Extension],
) -> Result<u64> {
    let relations = config_relations(source, extensions).await?;
    if relations.is_empty() {
        return Ok(0);
    }
    target.batch_execute("BEGIN").await?;
    let result = copy_in_transaction(source, target, &relations).await;
    match result {
        Ok(rows) => {
            target.batch_execute("COMMIT").await?;
            Ok(rows)
        }
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn copy_in_transaction(
    source: &Client,
    target: &Client,
    relations: &[ConfigRelation],
) -> Result<u64> {
    // Referencing tables are emptied before the tables they reference.
    for r in relations.iter().rev().filter(|r| r.relkind == 'r') {
        target
            .batch_execute(&format!(
                "DELETE FROM ONLY {} {}",
                r.qualified(),
                r.condition
            ))
            .await
            .with_context(|| {
                format!(
                    "clearing configuration rows of {} on the target",
                    r.qualified()
                )
            })?;
    }
    let mut total = 0;
    for r in relations.iter().filter(|r| r.relkind != 'S') {
        let rows = copy_rows(source, target, r)
            .await
            .with_context(|| format!("copying configuration rows of {}", r.qualified()))?;
        info!(
            "{}: {rows} configuration rows of extension {}",
            r.qualified(),
            r.extension
        );
        total += rows;
    }
    // setval() is not undone by a rollback: sequences only once every row is in.
    for r in relations.iter().filter(|r| r.relkind == 'S') {
        copy_sequence(source, target, r).await?;
    }
    Ok(total)
}

/// Stream `SELECT <columns> FROM ONLY t <condition>` into `COPY t FROM STDIN`,
/// under the row-count guard of table copies. Generated columns are left
/// out: the target computes them.
async fn copy_rows(source: &Client, target: &Client, r: &ConfigRelation) -> Result<u64> {
    let columns: Vec<String> = source
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 \
               AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            &[&r.oid],
        )
        .await?
        .iter()
        .map(|row| Ok(quote_ident(row.try_get(0)?)))
        .collect::<Result<_>>()?;
    let list = columns.join(", ");
    let copy_out = format!(
        "COPY (SELECT {list} FROM ONLY {} {}) TO STDOUT",
        r.qualified(),
        r.condition
    );
    let copy_in = format!("COPY {} ({list}) FROM STDIN", r.qualified());
    copy_counted(source, target, (&copy_out, &copy_in), &r.qualified()).await
}

async fn copy_sequence(source: &Client, target: &Client, r: &ConfigRelation) -> Result<()> {
    let row = source
        .query_one(
            &format!("SELECT last_value, is_called FROM {}", r.qualified()),
            &[],
        )
        .await
        .with_context(|| format!("reading sequence {}", r.qualified()))?;
    let (value, called): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
    target
        .execute(
            "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
            &[&r.qualified(), &value, &called],
        )
        .await
        .with_context(|| format!("setting sequence {}", r.qualified()))?;
    Ok(())
}
