//! `copy extensions`: the source's extensions created on the target, then
//! the rows of their configuration tables copied.
//!
//! Creating an extension needs privileges a database owner often lacks
//! (superuser, or a trusted extension), so a migration may run this step as
//! a superuser and the rest (`clone --skip-extensions`) as the owner.
//! - [`read_extensions`] lists them on the source, required ones first;
//! - [`create_extensions`] makes the missing ones on the target;
//! - [`config_data::copy_config_data`] copies the configuration rows.

pub mod config_data;
mod order;
pub mod requirements;

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use tokio_postgres::Client;
use tracing::{info, warn};

use crate::filters::Filters;
use crate::sql::{quote_ident, quote_literal};

/// An extension of the source.
#[derive(Debug, Clone)]
pub struct Extension {
    pub oid: u32,
    pub name: String,
    pub schema: String,
    pub schema_owner: String,
    pub version: String,
    /// Extensions this one requires (`requires` in its control file).
    pub requires: Vec<u32>,
}

/// One relation of `pg_extension.extconfig`: the rows matching `condition`
/// (`WHERE ...`, or empty for all) are the user's, and pg_dump dumps them.
#[derive(Debug, Clone)]
pub struct ConfigRelation {
    pub extension: String,
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `r` table, `S` sequence.
    pub relkind: char,
    pub condition: String,
}

impl ConfigRelation {
    pub fn qualified(&self) -> String {
        crate::sql::quote_qualified(&self.schema, &self.name)
    }
}

const EXTENSIONS_SQL: &str = "\
    SELECT e.oid, e.extname::text, n.nspname::text, pg_get_userbyid(n.nspowner)::text, \
           e.extversion, \
           ARRAY(SELECT d.refobjid FROM pg_depend d \
                  WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid \
                    AND d.refclassid = 'pg_extension'::regclass) \
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
     ORDER BY e.extname";

/// The source's extensions that `filters` keep, each after the ones it
/// requires. plpgsql is left out: every database has it from initdb.
pub async fn read_extensions(source: &Client, filters: &Filters) -> Result<Vec<Extension>> {
    let rows = source
        .query(EXTENSIONS_SQL, &[])
        .await
        .context("listing source extensions")?;
    let all: Vec<Extension> = rows
        .iter()
        .map(|r| -> Result<_> {
            Ok(Extension {
                oid: r.try_get(0)?,
                name: r.try_get(1)?,
                schema: r.try_get(2)?,
                schema_owner: r.try_get(3)?,
                version: r.try_get(4)?,
                requires: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|e| e.name != "plpgsql" && !filters.extension_excluded(&e.name))
        .collect();
    let deps: HashMap<u32, Vec<u32>> = all.iter().map(|e| (e.oid, e.requires.clone())).collect();
    Ok(order::dependencies_first(all, |e| e.oid, &deps))
}

/// Create on the target every extension of `extensions` it does not have:
/// its schema first (owned like on the source when that role exists), then
/// `CREATE EXTENSION IF NOT EXISTS ... WITH SCHEMA ... VERSION ... CASCADE`.
/// The source's version is asked for when the target can install it;
/// otherwise the target's default version is created, with a warning (an
/// upgrade to a newer server often comes with newer extension versions).
/// A version pinned in `pins` (`--requirements`) replaces the source's and
/// must be installable on the target.
/// Returns the names of the extensions created.
pub async fn create_extensions(
    target: &Client,
    extensions: &[Extension],
    pins: &requirements::Pins,
) -> Result<Vec<String>> {
    let existing: HashMap<String, String> = target
        .query_typed("SELECT extname::text, extversion FROM pg_extension", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let available: HashSet<(String, String)> = target
        .query_typed(
            "SELECT name::text, version FROM pg_available_extension_versions",
            &[],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let roles: HashSet<String> = target
        .query_typed("SELECT rolname::text FROM pg_roles", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut created = Vec::new();
    for e in extensions {
        let pinned = pins.get(&e.name);
        let wanted = pinned.unwrap_or(&e.version);
        if let Some(v) = existing.get(&e.name) {
            if v != wanted {
                warn!(
                    "extension {} is at version {v} on the target, {wanted} wanted: left as is",
                    e.name
                );
            }
            continue;
        }
        let schema = quote_ident(&e.schema);
        let fresh_schema: bool = target
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&e.schema],
            )
            .await?
            .try_get(0)?;
        if fresh_schema {
            let owner = if roles.contains(&e.schema_owner) {
                format!(" AUTHORIZATION {}", quote_ident(&e.schema_owner))
            } else {
                String::new()
            };
            target
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}{owner}"))
                .await
                .with_context(|| {
                    format!("creating schema {} for extension {}", e.schema, e.name)
                })?;
        }
        let version = if available.contains(&(e.name.clone(), wanted.clone())) {
            format!(" VERSION {}", quote_literal(wanted))
        } else if pinned.is_some() {
            return Err(crate::error::Failure::target(format!(
                "the target cannot install version {wanted} of extension {} pinned by \
                 --requirements: install it there, or change the pin \
                 (`pgcopydb list extensions --available-versions` on the target lists its versions)",
                e.name
            ))
            .into());
        } else {
            warn!(
                "the target cannot install version {} of extension {}: creating its default version",
                e.version, e.name
            );
            String::new()
        };
        let sql = format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {schema}{version} CASCADE",
            quote_ident(&e.name)
        );
        target.batch_execute(&sql).await.map_err(|err| {
            crate::connections::Side::Target.failure_of(
                &err,
                format!("{sql}: {}", crate::connections::db_error_message(&err)),
            )
        })?;
        info!("created extension {} in schema {}", e.name, e.schema);
        created.push(e.name.clone());
    }
    Ok(created)
}
