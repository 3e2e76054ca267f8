//! Roles are global objects: `pg_dumpall --roles-only` on the source, then
//! replayed on the target one statement at a time, skipping the roles that
//! already exist there (PostgreSQL has no CREATE ROLE IF NOT EXISTS).

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::schema::child;
use crate::tools::PgTools;

/// Dump the source's roles into `out`. Without the right to read
/// `pg_authid` (managed services, non-superusers), password hashes are left
/// out rather than failing.
pub async fn dump_roles(
    tools: &PgTools,
    source: &ConnInfo,
    can_read_passwords: bool,
    out: &Path,
) -> Result<()> {
    // The dump holds password verifiers: a fresh 0600 file that pg_dumpall
    // truncates and keeps the mode of (a link there replaced, not followed).
    crate::workdir::private::open_private_file(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let program = tools.bindir.join("pg_dumpall");
    let mut cmd = child::command(&program, source.child_password())
        .map_err(|e| child::could_not_run(&program, e))?;
    cmd.arg("--roles-only")
        .arg(format!("--dbname={}", source.child_dbname_arg()))
        .arg("--file")
        .arg(out);
    if !can_read_passwords {
        cmd.arg("--no-role-passwords");
    }
    let output = cmd
        .output()
        .await
        .map_err(|e| child::could_not_run(&program, e))?;
    if !output.status.success() {
        return Err(Failure::source(format!(
            "pg_dumpall --roles-only failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
        .into());
    }
    Ok(())
}

/// `copy roles`: dump the source's roles into `file`, then create on the
/// target those it lacks. Passwords are left out with `no_passwords`, or
/// when the source role cannot read them. Returns the roles created.
pub async fn copy_roles(
    tools: &PgTools,
    source: &ConnInfo,
    source_client: &Client,
    target: &Client,
    no_passwords: bool,
    file: &Path,
) -> Result<Vec<String>> {
    let passwords = !no_passwords && can_read_passwords(source_client).await?;
    if !passwords && !no_passwords {
        tracing::info!("the source role cannot read pg_authid: copying roles without passwords");
    }
    if let Some(dir) = file.parent() {
        crate::workdir::private::create_private_dir(dir)?;
    }
    dump_roles(tools, source, passwords, file).await?;
    let script = std::fs::read_to_string(file)?;
    restore_roles(target, &script).await
}

/// Whether the source session may read role passwords.
pub async fn can_read_passwords(source: &Client) -> Result<bool> {
    Ok(source
        .query_one(
            "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
            &[],
        )
        .await?
        .try_get(0)?)
}

/// One statement of a roles dump and the role it is about.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleStatement {
    pub role: Option<String>,
    pub sql: String,
}

/// Split a `pg_dumpall --roles-only` script into statements, each tagged with
/// the role it creates or alters (`CREATE ROLE x;`, `ALTER ROLE x WITH ...`).
/// psql meta-commands (`\restrict`, `\connect`) and comments are dropped.
pub fn parse_roles_script(script: &str) -> Vec<RoleStatement> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let trimmed = line.trim_start();
        if current.is_empty()
            && (trimmed.starts_with("--") || trimmed.starts_with('\\') || trimmed.is_empty())
        {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.trim_end().ends_with(';') {
            let sql = std::mem::take(&mut current).trim().to_string();
            out.push(RoleStatement {
                role: role_of(&sql),
                sql,
            });
        }
    }
    out
}

/// The role name a `CREATE ROLE` / `ALTER ROLE` statement is about.
fn role_of(sql: &str) -> Option<String> {
    let rest = sql
        .strip_prefix("CREATE ROLE ")
        .or_else(|| sql.strip_prefix("ALTER ROLE "))?;
    if let Some(quoted) = rest.strip_prefix('"') {
        // A quoted identifier ends at a quote that is not doubled.
        let mut name = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    name.push('"');
                } else {
                    return Some(name);
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let end = rest.find([' ', ';']).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

/// Replay a roles dump on the target, skipping every statement about a role
/// that already exists there (its settings are the target's business).
/// Returns the names of the roles created.
pub async fn restore_roles(target: &Client, script: &str) -> Result<Vec<String>> {
    let existing: HashSet<String> = target
        .query("SELECT rolname FROM pg_roles", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut created = Vec::new();
    for stmt in parse_roles_script(script) {
        if stmt.role.as_ref().is_some_and(|r| existing.contains(r)) {
            continue;
        }
        target.batch_execute(&stmt.sql).await.with_context(|| {
            format!(
                "restoring roles: {}",
                crate::report::secrets::mask(first_line(&stmt.sql))
            )
        })?;
        if stmt.sql.starts_with("CREATE ROLE ") {
            created.extend(stmt.role);
        }
    }
    Ok(created)
}

fn first_line(sql: &str) -> &str {
    sql.lines().next().unwrap_or(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_tagged_with_their_role() {
        let script = "--\n-- Roles\n--\n\\restrict abc\nCREATE ROLE app;\nALTER ROLE app WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$x';\n\
                      CREATE ROLE \"Odd \"\"name\";\nALTER ROLE \"Odd \"\"name\" WITH NOLOGIN;\n\
                      GRANT app TO \"Odd \"\"name\" GRANTED BY postgres;\n\\unrestrict abc\n";
        let stmts = parse_roles_script(script);
        assert_eq!(stmts.len(), 5);
        assert_eq!(stmts[0].role.as_deref(), Some("app"));
        assert_eq!(stmts[1].role.as_deref(), Some("app"));
        assert_eq!(stmts[2].role.as_deref(), Some("Odd \"name"));
        assert_eq!(stmts[3].role.as_deref(), Some("Odd \"name"));
        assert_eq!(stmts[4].role, None);
    }
}
