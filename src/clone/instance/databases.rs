//! The databases of an instance: which source databases to copy, creating
//! the missing ones on the target with the source's encoding and locale,
//! and refusing targets that already hold tables to copy.

use std::collections::HashSet;

use anyhow::{Context, Result};
use tokio_postgres::Client;
use tracing::{info, warn};

use crate::catalog::existing_target_tables;
use crate::connections::{connect, Endpoints, Side};
use crate::error::Failure;
use crate::sql::{quote_ident, quote_literal};

/// A source database and what its target twin is created with.
#[derive(Debug, Clone)]
pub struct SourceDatabase {
    pub name: String,
    pub owner: String,
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// `c` (libc), `i` (ICU) or `b` (builtin, PostgreSQL 17+); `c` before 15.
    pub provider: String,
    /// The ICU or builtin locale (`daticulocale` on 15/16, `datlocale` on 17+).
    pub locale: Option<String>,
    pub icu_rules: Option<String>,
    pub bytes: i64,
}

/// Every database of the source that can be copied: not a template, and
/// accepting connections. Largest first, so the long copies start first.
pub async fn list_source(source: &Client) -> Result<Vec<SourceDatabase>> {
    // to_jsonb reads the locale columns by name whatever the server version
    // has (they were added in 15 and renamed in 17).
    const SQL: &str = "\
        SELECT d.datname, r.rolname, pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, \
               coalesce(to_jsonb(d) ->> 'datlocprovider', 'c'), \
               coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale'), \
               to_jsonb(d) ->> 'daticurules', \
               CASE WHEN has_database_privilege(d.oid, 'CONNECT') \
                    THEN pg_database_size(d.oid) ELSE 0 END \
          FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
         WHERE d.datallowconn AND NOT d.datistemplate \
         ORDER BY 9 DESC, 1";
    let rows = source
        .query(SQL, &[])
        .await
        .context("listing the source databases")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(SourceDatabase {
                name: r.try_get(0)?,
                owner: r.try_get(1)?,
                encoding: r.try_get(2)?,
                collate: r.try_get(3)?,
                ctype: r.try_get(4)?,
                provider: r.try_get(5)?,
                locale: r.try_get(6)?,
                icu_rules: r.try_get(7)?,
                bytes: r.try_get(8)?,
            })
        })
        .collect()
}

/// The `CREATE DATABASE` that gives the target the source's encoding and
/// locale. A provider the target server does not have falls back to libc
/// with the same collation names, with a warning.
pub fn create_statement(db: &SourceDatabase, target_major: u32, owner_exists: bool) -> String {
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_ident(&db.name),
        quote_literal(&db.encoding),
        quote_literal(&db.collate),
        quote_literal(&db.ctype)
    );
    let locale = db.locale.as_deref().unwrap_or_default();
    match db.provider.as_str() {
        "i" if target_major >= 15 => {
            sql.push_str(&format!(
                " LOCALE_PROVIDER icu ICU_LOCALE {}",
                quote_literal(locale)
            ));
            if let Some(rules) = db.icu_rules.as_deref().filter(|_| target_major >= 16) {
                sql.push_str(&format!(" ICU_RULES {}", quote_literal(rules)));
            }
        }
        "b" if target_major >= 17 => {
            sql.push_str(&format!(
                " LOCALE_PROVIDER builtin BUILTIN_LOCALE {}",
                quote_literal(locale)
            ));
        }
        "c" => {}
        other => warn!(
            "database {}: the target (PostgreSQL {target_major}) has no locale provider `{other}` \
             ({locale}); creating it with libc collation {}",
            db.name, db.collate
        ),
    }
    if owner_exists {
        sql.push_str(&format!(" OWNER {}", quote_ident(&db.owner)));
    }
    sql
}

/// Create on the target every database it does not have yet. Returns the
/// names of those created.
pub async fn create_missing(
    target: &Client,
    target_major: u32,
    databases: &[SourceDatabase],
) -> Result<Vec<String>> {
    let existing = target_databases(target).await?;
    let roles: HashSet<String> = target
        .query("SELECT rolname FROM pg_roles", &[])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect::<Result<_>>()?;
    let mut created = Vec::new();
    for db in databases.iter().filter(|d| !existing.contains(&d.name)) {
        let sql = create_statement(db, target_major, roles.contains(&db.owner));
        info!("creating database {} on the target", quote_ident(&db.name));
        target.batch_execute(&sql).await.map_err(|e| {
            crate::connections::Side::Target.failure_of(
                &e,
                format!(
                    "cannot create database {} on the target: {}",
                    quote_ident(&db.name),
                    crate::connections::db_error_message(&e)
                ),
            )
        })?;
        created.push(db.name.clone());
    }
    Ok(created)
}

pub async fn target_databases(target: &Client) -> Result<HashSet<String>> {
    Ok(target
        .query("SELECT datname FROM pg_database", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// Before anything is written: refuse (exit 7) when a target database
/// already has any of the tables of its source twin. The per-database run
/// checks again against its filtered catalog; this check spares a run that
/// would be refused half-way, after the roles and other databases.
pub async fn refuse_existing_tables(
    endpoints: &Endpoints,
    databases: &[SourceDatabase],
    on_target: &HashSet<String>,
) -> Result<()> {
    let mut clashes = Vec::new();
    for db in databases.iter().filter(|d| on_target.contains(&d.name)) {
        let source = connect(Side::Source, &endpoints.source.with_dbname(&db.name)).await?;
        let target = connect(Side::Target, &endpoints.target.with_dbname(&db.name)).await?;
        let wanted: HashSet<String> = existing_target_tables(&source).await?.into_iter().collect();
        let present = existing_target_tables(&target).await?;
        if let Some(first) = present.iter().find(|t| wanted.contains(*t)) {
            clashes.push(format!("{} ({first})", quote_ident(&db.name)));
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Failure::target(format!(
        "target database(s) {} already have tables to copy; use --drop-if-exists to replace \
         them, --resume to continue an interrupted run, or clone into an empty instance",
        clashes.join(", ")
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(provider: &str, locale: Option<&str>) -> SourceDatabase {
        SourceDatabase {
            name: "My DB".into(),
            owner: "app owner".into(),
            encoding: "UTF8".into(),
            collate: "C.UTF-8".into(),
            ctype: "C.UTF-8".into(),
            provider: provider.into(),
            locale: locale.map(str::to_string),
            icu_rules: None,
            bytes: 0,
        }
    }

    #[test]
    fn create_statement_keeps_encoding_locale_and_owner() {
        let sql = create_statement(&db("c", None), 15, true);
        assert_eq!(
            sql,
            "CREATE DATABASE \"My DB\" TEMPLATE template0 ENCODING 'UTF8' \
             LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' OWNER \"app owner\""
        );
        let icu = create_statement(&db("i", Some("en-US")), 16, false);
        assert!(
            icu.ends_with("LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"),
            "{icu}"
        );
        // No ICU before 15: plain libc.
        let old = create_statement(&db("i", Some("en-US")), 14, false);
        assert!(!old.contains("ICU"), "{old}");
        let builtin = create_statement(&db("b", Some("C.UTF-8")), 17, false);
        assert!(
            builtin.ends_with("LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'"),
            "{builtin}"
        );
    }
}
