//! Database-level settings: `ALTER DATABASE … SET` and
//! `ALTER ROLE … IN DATABASE … SET`, which live in `pg_db_role_setting` and
//! are not part of a pg_dump archive taken without `--create`.

use anyhow::Context;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// Settings whose stored value is a list of possibly double-quoted items;
/// they have to be split and re-quoted item by item (the same list pg_dump
/// keeps), otherwise `"$user", public` would become one schema name.
const LIST_QUOTE_GUCS: &[&str] = &[
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// Copies the settings attached to the source's current database onto the
/// target's current database, for the whole database and for each role that
/// also exists on the target. A setting the target rejects as unknown or
/// invalid (typically a newer source server, or an extension GUC) is skipped
/// with a warning. Returns how many settings were applied.
pub async fn copy_db_properties(source: &Client, target: &Client) -> anyhow::Result<usize> {
    let rows = source
        .query(
            "SELECT s.setrole = 0, r.rolname::text, s.setconfig \
               FROM pg_db_role_setting s \
               JOIN pg_database d ON d.oid = s.setdatabase \
               LEFT JOIN pg_roles r ON r.oid = s.setrole \
              WHERE d.datname = current_database() \
              ORDER BY s.setrole",
            &[],
        )
        .await?;
    // Target queries in one round trip each (unnamed statements): they work
    // through a pooler in transaction mode.
    let target_db: String = target
        .query_typed("SELECT current_database()::text", &[])
        .await?
        .first()
        .context("current_database() returned no row")?
        .try_get(0)?;

    let mut applied = 0;
    for row in rows {
        let db_wide: bool = row.try_get(0)?;
        let role: Option<String> = row.try_get(1)?;
        let config: Vec<String> = row.try_get(2)?;

        let prefix = match (db_wide, role) {
            (true, _) => format!("ALTER DATABASE {}", quote_ident(&target_db)),
            (false, Some(role)) => {
                let exists = !target
                    .query_typed(
                        "SELECT 1 FROM pg_roles WHERE rolname = $1",
                        &[(&role, Type::TEXT)],
                    )
                    .await?
                    .is_empty();
                if !exists {
                    tracing::warn!(
                        "role {role} does not exist on the target, skipping its database settings"
                    );
                    continue;
                }
                format!(
                    "ALTER ROLE {} IN DATABASE {}",
                    quote_ident(&role),
                    quote_ident(&target_db)
                )
            }
            (false, None) => continue,
        };

        for item in &config {
            let Some((name, value)) = item.split_once('=') else {
                continue;
            };
            let sql = format!("{prefix} SET {}", set_clause(name, value));
            match target.batch_execute(&sql).await {
                Ok(()) => applied += 1,
                Err(e) if is_unknown_setting(&e) => {
                    tracing::warn!(
                        "skipping setting {name} unknown to the target: {}",
                        db_message(&e)
                    );
                }
                Err(e) => return Err(anyhow::Error::new(e).context(sql)),
            }
        }
    }
    Ok(applied)
}

fn is_unknown_setting(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNDEFINED_OBJECT || *c == SqlState::INVALID_PARAMETER_VALUE
    )
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// `name TO value`, with the value quoted the way the server stored it.
fn set_clause(name: &str, value: &str) -> String {
    // A custom setting "ext.opt" is two identifiers in the grammar.
    let name: Vec<String> = name.split('.').map(quote_ident).collect();
    let value = if LIST_QUOTE_GUCS.contains(&name_lower(&name).as_str()) {
        split_guc_list(value)
            .iter()
            .map(|v| quote_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        quote_literal(value)
    };
    format!("{} TO {value}", name.join("."))
}

fn name_lower(quoted: &[String]) -> String {
    quoted.join(".").replace('"', "").to_lowercase()
}

/// Splits a stored list value such as `"$user", public` into its items,
/// undoing the double quoting the server applied.
fn split_guc_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut item = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                // A doubled quote inside quotes is a literal quote.
                if c == '"' && chars.next_if_eq(&'"').is_none() {
                    break;
                }
                item.push(c);
            }
            while chars.next_if(|c| *c != ',').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                item.push(c);
            }
            item.truncate(item.trim_end().len());
        }
        items.push(item);
        if chars.next().is_none() {
            return items;
        }
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A string literal that reads the same whatever `standard_conforming_strings` is.
fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_settings_are_literals() {
        assert_eq!(set_clause("work_mem", "12MB"), "\"work_mem\" TO '12MB'");
        assert_eq!(
            set_clause("myapp.note", "it's"),
            "\"myapp\".\"note\" TO 'it''s'"
        );
        assert_eq!(set_clause("x", "a\\b"), "\"x\" TO E'a\\\\b'");
    }

    #[test]
    fn list_settings_are_split() {
        assert_eq!(split_guc_list("\"$user\", public"), ["$user", "public"]);
        assert_eq!(split_guc_list("\"a\"\"b\",c d , e"), ["a\"b", "c d", "e"]);
        assert_eq!(split_guc_list("\"\""), [""]);
        assert_eq!(
            set_clause("search_path", "\"$user\", public"),
            "\"search_path\" TO '$user', 'public'"
        );
    }
}
