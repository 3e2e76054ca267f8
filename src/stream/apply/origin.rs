//! The target's replication origin: where the applier records, in the same
//! commit as each applied transaction, the source position it reached.

use anyhow::{Context, Result};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::pipeline::Pipeline;
use crate::connections::{self, Side};
use crate::conninfo::ConnInfo;
use crate::error::{Failure, Kind};
use crate::sql::quote_literal;
use crate::stream::lsn::Lsn;

/// Create the origin `name` unless it exists.
pub async fn ensure(client: &Client, name: &str) -> Result<()> {
    // Unnamed statements here: one round trip each, at every start-up.
    client
        .query_typed(
            "SELECT pg_catalog.pg_replication_origin_create($1) \
              WHERE pg_catalog.pg_replication_origin_oid($1) IS NULL",
            &[(&name, Type::TEXT)],
        )
        .await
        .map_err(|e| origin_failure(name, "create", &e))?;
    Ok(())
}

/// Attach the applier's own session (see pipeline.rs) to the origin: its
/// commits then record their source position. An origin serves one
/// session at a time.
pub(super) async fn attach_session<T>(pipeline: &mut Pipeline<T>, name: &str) -> Result<()> {
    let sql = format!(
        "SELECT pg_catalog.pg_replication_origin_session_setup({})",
        quote_literal(name)
    );
    let Err(e) = pipeline.query(&sql).await else {
        return Ok(());
    };
    if e.message.contains("already active") {
        // Retryable, like a slot still held: a follow killed a moment ago
        // leaves its target session (maybe mid-commit) for the server to
        // end, which it does on its own time.
        return Err(Failure::new(
            Kind::Conflict,
            e.side,
            format!(
                "replication origin {name:?} is in use by another session on the target ({}); \
                 is another follow running with --origin {name}?",
                e.message
            ),
        )
        .into());
    }
    let hint = if e.is_retryable() || e.kind == Kind::CannotConnect {
        ""
    } else {
        " (replication origins need a superuser or the pg_replication_origin_* grants)"
    };
    Err(Failure::new(
        e.kind,
        e.side,
        format!(
            "cannot use replication origin {name:?} on the target ({}){hint}",
            e.message
        ),
    )
    .into())
}

/// The origin's position: the end of the last source transaction applied.
/// With `durable`, only what the target has flushed to disk: a target crash
/// may lose later commits (synchronous_commit = off), and their positions
/// with them, since both are in the same commit record.
pub async fn progress(client: &Client, name: &str, durable: bool) -> Result<Lsn> {
    let rows = client
        .query_typed(
            "SELECT pg_catalog.pg_replication_origin_progress($1, $2)::text",
            &[(&name, Type::TEXT), (&durable, Type::BOOL)],
        )
        .await
        .map_err(|e| origin_failure(name, "read", &e))?;
    let text: Option<String> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => anyhow::bail!("reading the position of replication origin {name:?}: no row"),
    };
    match text {
        // No transaction applied through this origin yet.
        None => Ok(Lsn::INVALID),
        Some(text) => text
            .parse()
            .with_context(|| format!("reading the position of replication origin {name:?}")),
    }
}

/// Create the origin if missing and move it forward to `start` (the slot's
/// consistent point, for a fresh follow); never moves it backwards.
pub async fn setup(target: &ConnInfo, name: &str, start: Lsn) -> Result<Lsn> {
    let client = connections::connect(Side::Target, target).await?;
    setup_on(&client, name, start).await
}

/// [`setup`] on an open connection.
pub async fn setup_on(client: &Client, name: &str, start: Lsn) -> Result<Lsn> {
    ensure(client, name).await?;
    let current = progress(client, name, false).await?;
    if start > current {
        client
            .query_typed(
                "SELECT pg_catalog.pg_replication_origin_advance($1, $2::pg_lsn)",
                &[(&name, Type::TEXT), (&start.to_string(), Type::TEXT)],
            )
            .await
            .map_err(|e| origin_failure(name, "advance", &e))?;
        return Ok(start);
    }
    Ok(current)
}

/// Drop the origin (`stream cleanup`); an absent origin is not an error.
pub async fn drop(target: &ConnInfo, name: &str) -> Result<()> {
    let client = connections::connect(Side::Target, target).await?;
    let started = std::time::Instant::now();
    loop {
        let dropped = client
            .execute(
                "SELECT pg_catalog.pg_replication_origin_drop($1) \
                  WHERE pg_catalog.pg_replication_origin_oid($1) IS NOT NULL",
                &[&name],
            )
            .await;
        match dropped {
            Ok(_) => return Ok(()),
            // In use: by the session of a follow killed a moment ago, that
            // the server has not ended yet (bounded: another follow may
            // be running).
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE)
                    && crate::retry::released_soon(started).await => {}
            Err(e) => return Err(origin_failure(name, "drop", &e)),
        }
    }
}

fn origin_failure(name: &str, what: &str, e: &tokio_postgres::Error) -> anyhow::Error {
    // The hint is for a refusal; a link lost in a restart is only retried.
    let kind = Kind::of_postgres(e);
    let hint = if kind.is_retryable() || kind == Kind::CannotConnect {
        ""
    } else {
        " (replication origins need a superuser or the pg_replication_origin_* grants)"
    };
    Side::Target
        .failure_of(
            e,
            format!(
                "cannot {what} replication origin {name:?} on the target: {}{hint}",
                connections::db_error_message(e)
            ),
        )
        .into()
}
