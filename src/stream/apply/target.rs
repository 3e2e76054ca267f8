//! What the applier needs to know of a target table: its kind (a
//! partitioned table is written through its root, without ONLY), and for
//! each column of the stream whether the target generates it and whether
//! its type has an equality the executor can use.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::error::Failure;
use crate::sql::quote_qualified;
use crate::stream::change::Relation;

/// A target column the stream writes.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    /// `quote_ident` of the name.
    pub ident: String,
    /// Generated on the target: never written, never compared.
    pub generated: bool,
    /// The type has a default btree or hash equality (what `=` means for
    /// DISTINCT and GROUP BY). Without one (json, xml, point, box...),
    /// `REPLICA IDENTITY FULL` rows are matched on `::text`.
    pub has_equality: bool,
}

#[derive(Debug, Clone)]
pub struct TargetTable {
    /// `schema.name`, quoted.
    pub qualified: String,
    pub partitioned: bool,
    /// One per column of the stream's relation, in its order.
    pub columns: Vec<TargetColumn>,
}

impl TargetTable {
    /// `ONLY t` for a plain table (rows of inheritance children arrive as
    /// their own changes), `t` for a partitioned one (ONLY is refused there;
    /// its partitions hold the rows).
    pub fn only(&self) -> String {
        if self.partitioned {
            self.qualified.clone()
        } else {
            format!("ONLY {}", self.qualified)
        }
    }
}

/// Columns of `schema.name` on the target with the facts above. Types are
/// followed through domains; an array has equality when its element does.
const COLUMNS: &str = "
WITH RECURSIVE cols AS (
    SELECT a.attnum, a.attname::text AS name, a.attgenerated <> '' AS generated,
           a.atttypid AS typ, 0 AS depth
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT c.attnum, c.name, c.generated,
           CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, c.depth + 1
      FROM cols c JOIN pg_catalog.pg_type t ON t.oid = c.typ
     WHERE c.depth < 16
       AND (t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A'))
)
SELECT c.name, c.generated,
       EXISTS (SELECT 1
                 FROM pg_catalog.pg_type t
                 JOIN pg_catalog.pg_opclass o ON o.opcdefault
                 JOIN pg_catalog.pg_am am ON am.oid = o.opcmethod AND am.amname IN ('btree', 'hash')
                WHERE t.oid = c.typ
                  AND (o.opcintype = t.oid
                       OR (o.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype AND t.typtype = 'e')
                       OR (o.opcintype = 'pg_catalog.anyrange'::pg_catalog.regtype AND t.typtype = 'r')
                       OR (o.opcintype = 'pg_catalog.record'::pg_catalog.regtype AND t.typtype = 'c')
                       OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k
                                   WHERE k.castsource = t.oid AND k.casttarget = o.opcintype
                                     AND k.castmethod = 'b' AND k.castcontext = 'i')))
  FROM cols c
 WHERE NOT EXISTS (SELECT 1 FROM cols d WHERE d.attnum = c.attnum AND d.depth > c.depth)
 ORDER BY c.attnum";

/// Find the target table the stream's `relation` names (by schema and
/// name, as the stream spells them) and map the stream's columns onto it.
pub async fn resolve(client: &Client, relation: &Relation) -> Result<TargetTable> {
    let qualified = quote_qualified(&relation.schema, &relation.name);
    let found = client
        .query_opt(
            "SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&relation.schema, &relation.name],
        )
        .await
        .with_context(|| format!("looking up table {qualified} on the target"))?;
    let Some(row) = found else {
        return Err(Failure::target(format!(
            "table {qualified} receives changes from the source but does not exist on the target; \
             create it (or leave it out of the publication) and resume"
        ))
        .into());
    };
    let oid: u32 = row.try_get(0)?;
    let relkind: String = row.try_get(1)?;
    let rows = client
        .query(COLUMNS, &[&oid])
        .await
        .with_context(|| format!("reading the columns of {qualified} on the target"))?;
    let mut target = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        target.push((name, row.try_get::<_, bool>(1)?, row.try_get::<_, bool>(2)?));
    }
    let mut columns = Vec::with_capacity(relation.columns.len());
    for column in &relation.columns {
        let Some((_, generated, has_equality)) = target.iter().find(|(n, ..)| *n == column.name)
        else {
            return Err(Failure::target(format!(
                "column {:?} of {qualified} receives changes from the source but does not exist \
                 on the target; add it and resume",
                column.name
            ))
            .into());
        };
        columns.push(TargetColumn {
            ident: crate::sql::quote_ident(&column.name),
            generated: *generated,
            has_equality: *has_equality,
        });
    }
    Ok(TargetTable {
        qualified,
        partitioned: relkind == "p",
        columns,
    })
}
