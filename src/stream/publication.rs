//! pgoutput's publication: the set of tables whose changes the slot streams.
//!
//! Created from the filters when the user gives none: `FOR ALL TABLES` when
//! nothing is filtered (a superuser's privilege; otherwise the tables are
//! listed), else `FOR TABLE` the selected tables and partitioned parents,
//! always `publish_via_partition_root` so that a partition's changes arrive
//! under its root and apply to a target partitioned differently. A
//! publication the user names and that exists is used as it is and never
//! dropped.

use anyhow::Result;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::catalog::{read_catalog, TableSizes};
use crate::connections::{db_error_message, server_major, Side};
use crate::filters::Filters;
use crate::sql::quote_ident;

pub async fn exists(client: &Client, name: &str) -> Result<bool> {
    // Unnamed statement: one round trip (a prepared one takes two).
    let rows = client
        .query_typed(
            "SELECT count(*) > 0 FROM pg_catalog.pg_publication WHERE pubname::text = $1",
            &[(&name, Type::TEXT)],
        )
        .await
        .map_err(|e| {
            Side::Source.failure_of(
                &e,
                format!(
                    "cannot look up publication {name:?} on the source: {}",
                    db_error_message(&e)
                ),
            )
        })?;
    match rows.first() {
        Some(row) => Ok(row.try_get(0)?),
        None => anyhow::bail!("looking up publication {name:?} on the source: no row"),
    }
}

/// Create publication `name` from `filters` (the caller found none of that
/// name, and recorded it as ours first).
pub async fn create(client: &Client, name: &str, filters: &Filters) -> Result<()> {
    let major = server_major(client).await?;
    // publish_via_partition_root exists from PostgreSQL 13 on.
    let with = if major >= 13 {
        " WITH (publish_via_partition_root = true)"
    } else {
        ""
    };
    let quoted = quote_ident(name);
    if filters.is_empty() {
        let all = format!("CREATE PUBLICATION {quoted} FOR ALL TABLES{with}");
        match client.batch_execute(&all).await {
            Ok(()) => {
                tracing::info!("created publication {quoted} for all tables");
                return Ok(());
            }
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                tracing::info!(
                    "publication {quoted}: FOR ALL TABLES needs a superuser, listing the tables instead"
                );
            }
            Err(e) => return Err(create_failure(name, &e).into()),
        }
    }
    let tables = selected_tables(client, filters).await?;
    let sql = if tables.is_empty() {
        format!("CREATE PUBLICATION {quoted}{with}")
    } else {
        format!(
            "CREATE PUBLICATION {quoted} FOR TABLE {}{with}",
            tables.join(", ")
        )
    };
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| create_failure(name, &e))?;
    tracing::info!("created publication {quoted} for {} tables", tables.len());
    Ok(())
}

fn create_failure(name: &str, e: &tokio_postgres::Error) -> crate::error::Failure {
    Side::Source.failure_of(
        e,
        format!(
            "cannot create publication {name:?} on the source: {}; create it yourself and give \
         its name with --publication",
            db_error_message(e)
        ),
    )
}

/// The tables a copy with `filters` selects (permanent ones: the others are
/// not logged, so never published) and their partitioned parents, quoted.
async fn selected_tables(client: &Client, filters: &Filters) -> Result<Vec<String>> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let mut catalog = read_catalog(client, false, TableSizes::Estimated).await?;
    let selection = crate::filters::resolve(filters, client).await?;
    client.batch_execute("COMMIT").await?;
    selection.apply(&mut catalog);
    let mut names: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| t.persistence == 'p')
        .map(|t| t.qualified())
        .collect();
    names.extend(
        catalog
            .partitioned
            .iter()
            .map(|p| format!("{}.{}", quote_ident(&p.schema), quote_ident(&p.name))),
    );
    names.sort();
    names.dedup();
    Ok(names)
}

/// Drop publication `name` if it exists (only ever one we created).
pub async fn drop(client: &Client, name: &str) -> Result<()> {
    client
        .batch_execute(&format!("DROP PUBLICATION IF EXISTS {}", quote_ident(name)))
        .await
        .map_err(|e| {
            Side::Source.failure_of(
                &e,
                format!(
                    "cannot drop publication {name:?} on the source: {}",
                    db_error_message(&e)
                ),
            )
        })?;
    Ok(())
}
