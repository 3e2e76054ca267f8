//! Row changes as statements: the target table behind a stream relation,
//! the prepared statement of each shape (table, operation, columns), and
//! the INSERT, UPDATE, DELETE and TRUNCATE sent through the pipeline.

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};

use super::copy::Run;
use super::deletes::batchable_key;
use super::param::Param;
use super::settle::{Entry, Kind};
use super::statement::{self, role, Op};
use super::target::{self, TargetTable};
use super::Applier;
use crate::error::Failure;
use crate::sql::quote_ident;
use crate::stream::change::{OldTuple, RelId, Relation, ReplicaIdentity, Value};

/// A prepared shape and what an error message needs to describe its rows.
pub(super) struct Prepared {
    /// The name it is prepared under on the applier's session.
    pub(super) statement: String,
    pub(super) op: Op,
    pub(super) table: String,
    /// Names of the matched columns, and the index of the first parameter
    /// that matches (the ones before it are written).
    pub(super) key_names: Vec<String>,
    pub(super) first_key_param: usize,
    /// Expect exactly one row (UPDATE, DELETE).
    pub(super) one_row: bool,
}

impl Applier {
    /// The stream's relation `id` and its target table, looked up on first use.
    pub(super) async fn table(&mut self, id: RelId) -> Result<(Arc<Relation>, Arc<TargetTable>)> {
        let Some(rel) = self.relations.get(&id) else {
            return Err(anyhow!(
                "a change refers to relation {id}, which the stream has not described"
            ));
        };
        let relation = rel.relation.clone();
        if let Some(target) = &rel.target {
            return Ok((relation, target.clone()));
        }
        let target = Arc::new(target::resolve(&self.client, &relation).await?);
        if let Some(rel) = self.relations.get_mut(&id) {
            rel.target = Some(target.clone());
        }
        Ok((relation, target))
    }

    pub(super) async fn prepared(
        &mut self,
        id: RelId,
        op: Op,
        roles: &[u8],
        one_row: bool,
    ) -> Result<Arc<Prepared>> {
        let found = self
            .statements
            .get(&(id, op))
            .and_then(|shapes| shapes.iter().find(|(r, _)| r.as_slice() == roles));
        if let Some((_, p)) = found {
            return Ok(p.clone());
        }
        let (relation, table) = self.table(id).await?;
        let sql = statement::sql(&table, op, roles, one_row);
        // Answered alone (once per shape): its failure is its own.
        self.settle_all().await?;
        let statement = self
            .pipeline
            .prepare(&sql)
            .await
            .with_context(|| format!("preparing {sql}"))?;
        let written = roles.iter().filter(|r| *r & role::WRITE != 0).count();
        let key_names = relation
            .columns
            .iter()
            .zip(roles.iter())
            .filter(|(_, r)| *r & (role::MATCH | role::MATCH_TEXT) != 0)
            .map(|(c, _)| quote_ident(&c.name))
            .collect();
        let prepared = Arc::new(Prepared {
            statement,
            op,
            table: table.qualified.clone(),
            key_names,
            first_key_param: if op == Op::Update { written } else { 0 },
            one_row: matches!(op, Op::Update | Op::Delete),
        });
        self.statements
            .entry((id, op))
            .or_default()
            .push((roles.to_vec(), prepared.clone()));
        Ok(prepared)
    }

    pub(super) async fn insert(&mut self, id: RelId, new: Vec<Value>) -> Result<()> {
        let (relation, table) = self.table(id).await?;
        check_width(&relation, &new)?;
        let roles: Vec<u8> = new
            .iter()
            .zip(&table.columns)
            .map(|(v, c)| {
                if c.generated || *v == Value::Unchanged {
                    0
                } else {
                    role::WRITE
                }
            })
            .collect();
        let copyable = !new.iter().any(|v| matches!(v, Value::Binary(_)));
        if let Some(copy) = &self.copy {
            if copy.relation == id && copy.roles == roles && copyable {
                return self.copy_row(&new, &roles).await;
            }
            self.end_copy().await?;
        }
        let length = match &mut self.run {
            Some(run) if run.relation == id && run.roles == roles => {
                run.length += 1;
                run.length
            }
            _ => {
                self.run = Some(Run {
                    relation: id,
                    roles: roles.clone(),
                    length: 1,
                });
                1
            }
        };
        if copyable && self.tuning.copy_after.is_some_and(|after| length > after) {
            self.start_copy(id, &table, roles.clone()).await?;
            return self.copy_row(&new, &roles).await;
        }
        let prepared = self.prepared(id, Op::Insert, &roles, false).await?;
        let params: Vec<Param> = new
            .iter()
            .zip(&roles)
            .filter(|(_, r)| **r != 0)
            .map(|(v, _)| Param::of(v))
            .collect();
        self.send_row(prepared, params).await
    }

    pub(super) async fn send_row(
        &mut self,
        prepared: Arc<Prepared>,
        params: Vec<Param>,
    ) -> Result<()> {
        let Some(tx) = &mut self.tx else {
            return Err(anyhow!("a change arrived outside a transaction"));
        };
        tx.rows += 1;
        let (seq, xid) = (tx.seq, tx.xid);
        let shape = Arc::clone(&prepared);
        self.pipeline.execute(
            &shape.statement,
            &params,
            Entry::new(
                seq,
                Kind::Row {
                    prepared,
                    params: None,
                    xid,
                },
            ),
        );
        self.make_room().await
    }

    /// UPDATE or DELETE: find the row by the replica identity.
    pub(super) async fn locate(
        &mut self,
        op: Op,
        id: RelId,
        old: Option<&OldTuple>,
        new: Option<&Vec<Value>>,
    ) -> Result<()> {
        let (relation, table) = self.table(id).await?;
        let full = relation.replica_identity == ReplicaIdentity::Full
            || matches!(old, Some(OldTuple::Full(_)));
        if relation.replica_identity == ReplicaIdentity::Nothing && !full {
            return Err(Failure::target(format!(
                "table {} has REPLICA IDENTITY NOTHING on the source but received an {}: its \
                 rows cannot be located; give it a primary key or REPLICA IDENTITY FULL on the \
                 source",
                table.qualified,
                op_name(op)
            ))
            .into());
        }
        let key_source = match (old, new) {
            (Some(old), _) => old.values(),
            (None, Some(new)) => new,
            (None, None) => return Err(anyhow!("a DELETE without its old row")),
        };
        check_width(&relation, key_source)?;
        if let Some(new) = new {
            check_width(&relation, new)?;
        }
        let mut roles = vec![0u8; relation.columns.len()];
        let mut params = Vec::new();
        if let Some(new) = new {
            for ((r, v), c) in roles.iter_mut().zip(new).zip(&table.columns) {
                if !c.generated && *v != Value::Unchanged {
                    *r |= role::WRITE;
                    params.push(Param::of(v));
                }
            }
        }
        for (((r, v), col), c) in roles
            .iter_mut()
            .zip(key_source)
            .zip(&relation.columns)
            .zip(&table.columns)
        {
            if !(full || col.is_key) || c.generated || *v == Value::Unchanged {
                if col.is_key && !full && *v == Value::Unchanged {
                    return Err(Failure::target(format!(
                        "an {} of {} does not carry the value of key column {}: its row cannot \
                         be located",
                        op_name(op),
                        table.qualified,
                        c.ident
                    ))
                    .into());
                }
                continue;
            }
            match v {
                Value::Null => *r |= role::MATCH_NULL,
                _ if full && !c.has_equality => {
                    *r |= role::MATCH_TEXT;
                    params.push(Param::of(v));
                }
                _ => {
                    *r |= role::MATCH;
                    params.push(Param::of(v));
                }
            }
        }
        if !roles.iter().any(|r| *r & !role::WRITE != 0) {
            return Err(Failure::target(format!(
                "an {} of {} carries no replica identity column: its row cannot be located",
                op_name(op),
                table.qualified
            ))
            .into());
        }
        if op == Op::Update && !roles.iter().any(|r| *r & role::WRITE != 0) {
            // Nothing to set (every column unchanged or generated).
            return Ok(());
        }
        if op == Op::Delete && !full {
            if let Some(key) = batchable_key(&roles, &params) {
                return self.delete_by_key(id, roles, key).await;
            }
        }
        // Whatever else this is, it comes after the DELETEs before it.
        self.send_deletes().await?;
        let prepared = self.prepared(id, op, &roles, full).await?;
        let Some(tx) = &mut self.tx else {
            return Err(anyhow!("a change arrived outside a transaction"));
        };
        tx.rows += 1;
        let (seq, xid) = (tx.seq, tx.xid);
        // Its row count is judged when answered: the commit waits for it.
        self.counts_unread = true;
        let shape = Arc::clone(&prepared);
        let params = Arc::new(params);
        self.pipeline.execute(
            &shape.statement,
            &params,
            Entry::new(
                seq,
                Kind::Row {
                    prepared,
                    params: Some(params.clone()),
                    xid,
                },
            ),
        );
        self.make_room().await
    }

    pub(super) async fn truncate(
        &mut self,
        ids: &[RelId],
        cascade: bool,
        restart: bool,
    ) -> Result<()> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            let (_, table) = self.table(*id).await?;
            names.push(table.only());
        }
        if names.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(anyhow!("a TRUNCATE arrived outside a transaction"));
        };
        let (seq, xid) = (tx.seq, tx.xid);
        let tables = names.join(", ");
        let sql = format!(
            "TRUNCATE {tables}{}{}",
            if restart { " RESTART IDENTITY" } else { "" },
            if cascade { " CASCADE" } else { "" }
        );
        self.pipeline
            .simple(sql, Entry::new(seq, Kind::Truncate { tables, xid }));
        self.make_room().await
    }
}

pub(super) fn op_name(op: Op) -> &'static str {
    match op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
        Op::Delete | Op::DeleteMany => "DELETE",
    }
}

pub(super) fn check_width(relation: &Relation, tuple: &[Value]) -> Result<()> {
    if tuple.len() != relation.columns.len() {
        return Err(anyhow!(
            "a change of {}.{} carries {} values for {} columns",
            relation.schema,
            relation.name,
            tuple.len(),
            relation.columns.len()
        ));
    }
    Ok(())
}
