//! Catalog views for `pgcopydb list`: wider than what the copy reads (they
//! also show what it skips, and why) and meant to be printed, not acted on.
//!
//! Every listing takes a [`ListScope`]: [`Everything`], or with `--filters`
//! the filters' own (`filters::FilterScope`), so that `list` shows exactly
//! what a run would copy.

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

/// Which objects the user selected. Objects outside the scope are left out,
/// except tables, which `list tables --list-skipped` shows as excluded.
pub trait ListScope: Sync {
    fn table(&self, _schema: &str, _name: &str) -> bool {
        true
    }
    /// The table's rows are copied (`exclude-table-data` says no).
    fn table_data(&self, _schema: &str, _name: &str) -> bool {
        true
    }
    fn sequence(&self, _schema: &str, _name: &str) -> bool {
        true
    }
    fn index(&self, _schema: &str, _name: &str) -> bool {
        true
    }
    fn extension(&self, _name: &str) -> bool {
        true
    }
}

/// No filtering.
pub struct Everything;
impl ListScope for Everything {}

/// Objects in these schemas belong to the server (same rule as the copy's).
fn user_schema(alias: &str) -> String {
    format!(
        "{alias}.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND {alias}.nspname !~ '^pg_toast' AND {alias}.nspname !~ '^pg_temp'"
    )
}

/// The name of the extension `oid` (of catalog `class`) belongs to, if any.
fn extension_of(class: &str, oid: &str) -> String {
    format!(
        "(SELECT e.extname::text FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid \
          WHERE d.classid = '{class}'::regclass AND d.objid = {oid} \
            AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1)"
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseRow {
    pub oid: u32,
    pub name: String,
    pub owner: String,
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// `None` when the user may not connect to it (the size needs CONNECT).
    pub bytes: Option<i64>,
}

/// Databases of the source instance, templates left out.
pub async fn databases(client: &Client) -> Result<Vec<DatabaseRow>> {
    const SQL: &str = "\
        SELECT d.oid, d.datname::text, pg_get_userbyid(d.datdba)::text, \
               pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text, \
               CASE WHEN has_database_privilege(d.oid, 'CONNECT') \
                    THEN pg_database_size(d.oid) END \
          FROM pg_database d WHERE NOT d.datistemplate ORDER BY d.datname";
    let rows = client.query(SQL, &[]).await.context("listing databases")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(DatabaseRow {
                oid: r.try_get(0)?,
                name: r.try_get(1)?,
                owner: r.try_get(2)?,
                encoding: r.try_get(3)?,
                collate: r.try_get(4)?,
                ctype: r.try_get(5)?,
                bytes: r.try_get(6)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ExtensionRow {
    pub oid: u32,
    pub name: String,
    pub schema: String,
    pub version: String,
    pub relocatable: bool,
    /// Configuration tables, whose rows `copy extensions` copies.
    pub config_tables: Vec<String>,
    /// The same tables as the original pgcopydb lists them.
    pub config: Vec<ConfigTable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigTable {
    pub schema: String,
    pub name: String,
}

pub async fn extensions(client: &Client, scope: &dyn ListScope) -> Result<Vec<ExtensionRow>> {
    const SQL: &str = "\
        SELECT e.oid, e.extname::text, n.nspname::text, e.extversion, e.extrelocatable, \
               ARRAY(SELECT c::regclass::text FROM unnest(e.extconfig) c), \
               ARRAY(SELECT cn.nspname::text FROM unnest(e.extconfig) WITH ORDINALITY c(oid, i) \
                       JOIN pg_class cc ON cc.oid = c.oid \
                       JOIN pg_namespace cn ON cn.oid = cc.relnamespace ORDER BY c.i), \
               ARRAY(SELECT cc.relname::text FROM unnest(e.extconfig) WITH ORDINALITY c(oid, i) \
                       JOIN pg_class cc ON cc.oid = c.oid ORDER BY c.i) \
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         ORDER BY e.extname";
    let rows = client.query(SQL, &[]).await.context("listing extensions")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(ExtensionRow {
                oid: r.try_get(0)?,
                name: r.try_get(1)?,
                schema: r.try_get(2)?,
                version: r.try_get(3)?,
                relocatable: r.try_get(4)?,
                config_tables: r.try_get(5)?,
                config: config_tables(r.try_get(6)?, r.try_get(7)?),
            })
        })
        .filter(|e| e.as_ref().map_or(true, |e| scope.extension(&e.name)))
        .collect()
}

fn config_tables(schemas: Vec<String>, names: Vec<String>) -> Vec<ConfigTable> {
    schemas
        .into_iter()
        .zip(names)
        .map(|(schema, name)| ConfigTable { schema, name })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct AvailableExtension {
    pub name: String,
    pub default_version: Option<String>,
    pub installed_version: Option<String>,
    /// Every version the server can install, oldest first.
    pub versions: Vec<String>,
    pub comment: Option<String>,
}

/// Extensions the source server could install, with their versions.
pub async fn available_extensions(
    client: &Client,
    scope: &dyn ListScope,
) -> Result<Vec<AvailableExtension>> {
    const SQL: &str = "\
        SELECT a.name::text, a.default_version, a.installed_version, a.comment, \
               ARRAY(SELECT v.version FROM pg_available_extension_versions v \
                      WHERE v.name = a.name) \
          FROM pg_available_extensions a ORDER BY a.name";
    let rows = client
        .query(SQL, &[])
        .await
        .context("listing available extensions")?;
    rows.iter()
        .map(|r| -> Result<_> {
            let mut versions: Vec<String> = r.try_get(4)?;
            versions.sort_by_cached_key(|v| version_key(v));
            Ok(AvailableExtension {
                name: r.try_get(0)?,
                default_version: r.try_get(1)?,
                installed_version: r.try_get(2)?,
                versions,
                comment: r.try_get(3)?,
            })
        })
        .filter(|e| e.as_ref().map_or(true, |e| scope.extension(&e.name)))
        .collect()
}

/// Sort key putting `1.10` after `1.9`: numeric chunks compare as numbers.
fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split(['.', '-'])
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (0, p.to_string()),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct CollationRow {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `c` libc, `i` icu, `b` builtin, `d` database default.
    pub provider: String,
    pub locale: String,
    pub ctype: String,
    pub deterministic: bool,
    /// Created by a user (`CREATE COLLATION`), not by initdb.
    pub user_defined: bool,
    /// One object that uses it (`column f1 of table t`), as the original's
    /// `Object name`; empty for a collation nothing uses.
    pub object_name: String,
}

/// Collations the copy needs on the target: user-defined ones, and those
/// that columns, indexes and domains of the database use.
pub async fn collations(client: &Client) -> Result<Vec<CollationRow>> {
    // `to_jsonb` reads the locale column under whatever name this server
    // version gives it (colliculocale in 15-16, colllocale from 17).
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.collname::text, c.collprovider::text, \
                coalesce(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale', \
                         c.collcollate::text, ''), \
                coalesce(c.collctype::text, ''), c.collisdeterministic, c.oid >= 16384, \
                coalesce( \
                  (SELECT pg_describe_object('pg_class'::regclass, a.attrelid, a.attnum) \
                     FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid \
                     JOIN pg_namespace rn ON rn.oid = r.relnamespace \
                    WHERE a.attcollation = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                      AND {rn} ORDER BY 1 LIMIT 1), \
                  (SELECT pg_describe_object('pg_class'::regclass, i.indexrelid, 0) \
                     FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid \
                     JOIN pg_namespace rn ON rn.oid = r.relnamespace \
                    WHERE c.oid = ANY(i.indcollation::oid[]) AND {rn} ORDER BY 1 LIMIT 1), \
                  (SELECT pg_describe_object('pg_type'::regclass, t.oid, 0) \
                     FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace \
                    WHERE t.typtype = 'd' AND t.typcollation = c.oid AND {tn} \
                    ORDER BY 1 LIMIT 1), '') \
           FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace \
          WHERE c.oid <> 100 AND ( \
                (c.oid >= 16384 AND {ext} IS NULL) \
             OR c.oid IN (SELECT a.attcollation FROM pg_attribute a \
                            JOIN pg_class r ON r.oid = a.attrelid \
                            JOIN pg_namespace rn ON rn.oid = r.relnamespace \
                           WHERE a.attnum > 0 AND NOT a.attisdropped AND {rn}) \
             OR c.oid IN (SELECT unnest(i.indcollation::oid[]) FROM pg_index i \
                            JOIN pg_class r ON r.oid = i.indrelid \
                            JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE {rn}) \
             OR c.oid IN (SELECT t.typcollation FROM pg_type t \
                            JOIN pg_namespace tn ON tn.oid = t.typnamespace \
                           WHERE t.typtype = 'd' AND {tn})) \
          ORDER BY n.nspname, c.collname",
        ext = extension_of("pg_collation", "c.oid"),
        rn = user_schema("rn"),
        tn = user_schema("tn"),
    );
    let rows = client
        .query(&sql, &[])
        .await
        .context("listing collations")?;
    rows.iter()
        .map(|r| -> Result<_> {
            Ok(CollationRow {
                oid: r.try_get(0)?,
                schema: r.try_get(1)?,
                name: r.try_get(2)?,
                provider: r.try_get(3)?,
                locale: r.try_get(4)?,
                ctype: r.try_get(5)?,
                deterministic: r.try_get(6)?,
                user_defined: r.try_get(7)?,
                object_name: r.try_get(8)?,
            })
        })
        .collect()
}

mod relations;
mod restore_names;
pub use relations::{
    dependents, indexes, sequences, split_key_columns, split_keys, tables, Dependent, IndexRow,
    SequenceRow, TableRow,
};
pub use restore_names::ListingNames;
