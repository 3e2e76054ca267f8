//! Facts the original pgcopydb's listings carry that the copy itself does
//! not need: the `restore-list-name` of a relation (how `pg_restore --list`
//! names it: schema, name, owner) and the columns of an index.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// The restore list names of the tables, indexes and sequences of a
/// catalog, and the columns of its indexes, by oid: kept with the catalog
/// so that `list progress` can show them without the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListingNames {
    pub restore_names: HashMap<u32, String>,
    pub index_columns: HashMap<u32, String>,
}

impl ListingNames {
    /// Read on the source for these relations and indexes.
    pub async fn read(client: &Client, relations: &[u32], indexes: &[u32]) -> Result<ListingNames> {
        Ok(ListingNames {
            restore_names: restore_list_names(client, relations).await?,
            index_columns: index_columns(client, indexes).await?,
        })
    }

    /// `schema name owner`, empty when unknown.
    pub fn restore_name(&self, oid: u32) -> &str {
        self.restore_names.get(&oid).map_or("", String::as_str)
    }

    /// The index's columns (`a,b`), empty when unknown or only expressions.
    pub fn columns(&self, oid: u32) -> &str {
        self.index_columns.get(&oid).map_or("", String::as_str)
    }
}

/// `schema name owner` of each relation of `oids`, line breaks turned into
/// spaces as in a `pg_restore --list` line.
pub async fn restore_list_names(client: &Client, oids: &[u32]) -> Result<HashMap<u32, String>> {
    const SQL: &str = "\
        SELECT c.oid, concat_ws(' ', regexp_replace(n.nspname, '[\\n\\r]', ' ', 'g'), \
                                regexp_replace(c.relname, '[\\n\\r]', ' ', 'g'), \
                                regexp_replace(pg_get_userbyid(c.relowner), '[\\n\\r]', ' ', 'g')) \
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = ANY($1)";
    let rows = client
        .query(SQL, &[&oids])
        .await
        .context("reading restore list names")?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The key and included columns of each index of `oids`, quoted and
/// comma-separated in index order (`a,"B"`); empty for expressions only.
pub async fn index_columns(client: &Client, oids: &[u32]) -> Result<HashMap<u32, String>> {
    const SQL: &str = "\
        SELECT i.indexrelid, \
               coalesce((SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.n) \
                           FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
                           JOIN pg_attribute a ON a.attrelid = i.indrelid \
                                              AND a.attnum = k.attnum), '') \
          FROM pg_index i WHERE i.indexrelid = ANY($1)";
    let rows = client
        .query(SQL, &[&oids])
        .await
        .context("reading index columns")?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
