//! Checks run on the source before change data capture writes anything
//! (a slot, a publication, a work directory): each refusal is one line
//! naming the setting at fault and what to do about it.
//!
//! The checks open their own short connection: the plugin check creates
//! (and drops) a temporary slot, and sets a statement timeout, which must
//! not leak into a caller's session.

use std::collections::HashSet;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use super::change::ReplicaIdentity;
use super::decode::tables::SourceTables;
use super::decode::Plugin;
use super::lsn::Lsn;
use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::filters::Filters;
use crate::sql::{quote_ident, quote_literal};

/// What the follower is about to do.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub slot_name: &'a str,
    pub plugin: Plugin,
    /// `--resume`: an existing slot of that name is reused, not refused.
    pub resuming: bool,
    /// Where streaming is to start (`--startpos`, the sentinel's startpos).
    pub startpos: Option<Lsn>,
    pub endpos: Option<Lsn>,
}

/// A replication slot found on the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingSlot {
    pub plugin: String,
    /// The process using it, when a walsender has it.
    pub active_pid: Option<i32>,
    pub database: Option<String>,
    pub confirmed_flush: Option<Lsn>,
}

/// What the checks learnt, for the caller to go on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The slot of the requested name, when resuming from one.
    pub existing_slot: Option<ExistingSlot>,
    /// The earliest position streaming can start from: the resumed slot's
    /// confirmed flush position, else the source's current WAL position.
    pub start: Lsn,
}

fn query_failed(what: &str, e: &tokio_postgres::Error) -> Failure {
    let text = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    Failure::of_postgres(
        crate::error::Side::Source,
        e,
        format!("cannot check {what} on the source: {text}"),
    )
}

fn column<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
    what: &str,
) -> Result<T, Failure> {
    row.try_get(index)
        .map_err(|e| Failure::source(format!("cannot read {what} from the source: {e}")))
}

/// Runs every check, in the order a user would fix them.
pub async fn preflight(source: &ConnInfo, request: &Request<'_>) -> Result<Preflight, Failure> {
    let client = source
        .connect()
        .await
        .map_err(|e| crate::connections::Side::Source.connect_failure(&e))?;
    check_wal_level(&client).await?;
    check_replication_privilege(&client).await?;
    let existing_slot = check_slot(&client, request).await?;
    if existing_slot.is_none() {
        check_free_slot(&client).await?;
    }
    check_free_wal_sender(&client).await?;
    if existing_slot.is_none() && request.plugin != Plugin::Pgoutput {
        // pgoutput is built into every server that has logical decoding.
        check_plugin_available(&client, request.plugin.name()).await?;
    }
    let start = match existing_slot.as_ref().and_then(|s| s.confirmed_flush) {
        Some(lsn) => lsn,
        None => current_wal_lsn(&client).await?,
    };
    let start = request.startpos.map_or(start, |s| s.max(start));
    if let Some(endpos) = request.endpos {
        check_endpos(start, endpos)?;
    }
    Ok(Preflight {
        existing_slot,
        start,
    })
}

async fn check_wal_level(client: &Client) -> Result<(), Failure> {
    let row = client
        .query_one("SELECT current_setting('wal_level')", &[])
        .await
        .map_err(|e| query_failed("wal_level", &e))?;
    let level: String = column(&row, 0, "wal_level")?;
    if level != "logical" {
        return Err(Failure::source(format!(
            "the source has wal_level = {level}; change data capture needs wal_level = logical: run ALTER SYSTEM SET wal_level = logical on the source, then restart it (wal_level only changes at server start)"
        )));
    }
    Ok(())
}

async fn check_replication_privilege(client: &Client) -> Result<(), Failure> {
    let row = client
        .query_one(
            "SELECT current_user::text, r.rolreplication OR r.rolsuper \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| query_failed("the REPLICATION attribute", &e))?;
    let user: String = column(&row, 0, "the current user")?;
    let allowed: bool = column(&row, 1, "the REPLICATION attribute")?;
    if !allowed {
        return Err(Failure::source(format!(
            "role \"{user}\" lacks the REPLICATION attribute needed to stream changes: run ALTER ROLE {} REPLICATION on the source as a superuser, or connect as a role that has it",
            quote_ident(&user)
        )));
    }
    Ok(())
}

/// The slot of the requested name: refused unless resuming; when resuming,
/// it must be a usable logical slot of this database and plugin.
async fn check_slot(
    client: &Client,
    request: &Request<'_>,
) -> Result<Option<ExistingSlot>, Failure> {
    let name = request.slot_name;
    // wal_status (PostgreSQL 13+) read through jsonb, so older servers work.
    let rows = client
        .query(
            "SELECT s.plugin::text, s.active_pid, s.database::text, \
                    s.confirmed_flush_lsn::text, s.slot_type, \
                    to_jsonb(s) ->> 'wal_status', current_database()::text \
             FROM pg_replication_slots s WHERE s.slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| query_failed("replication slots", &e))?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let what = "replication slot";
    let plugin: Option<String> = column(row, 0, what)?;
    let active_pid: Option<i32> = column(row, 1, what)?;
    let database: Option<String> = column(row, 2, what)?;
    let confirmed: Option<String> = column(row, 3, what)?;
    let slot_type: String = column(row, 4, what)?;
    let wal_status: Option<String> = column(row, 5, what)?;
    let current_db: String = column(row, 6, what)?;
    let plugin = plugin.unwrap_or_default();
    let state = match active_pid {
        Some(pid) => format!("active in process {pid}"),
        None => "inactive".to_string(),
    };
    if !request.resuming {
        return Err(Failure::source(format!(
            "replication slot \"{name}\" already exists on the source ({slot_type}, plugin {}, {state}): continue from it with --resume, or drop it (pgcopydb stream cleanup, or SELECT pg_drop_replication_slot({}))",
            if plugin.is_empty() { "none" } else { &plugin },
            quote_literal(name)
        )));
    }
    if slot_type != "logical" || database.as_deref() != Some(current_db.as_str()) {
        return Err(Failure::source(format!(
            "replication slot \"{name}\" is a {slot_type} slot of database {}, not a logical slot of \"{current_db}\": use another --slot-name",
            database.as_deref().map_or("(none)".to_string(), |d| format!("\"{d}\""))
        )));
    }
    if wal_status.as_deref() == Some("lost") {
        return Err(Failure::source(format!(
            "replication slot \"{name}\" was invalidated by the source (wal_status = lost: WAL it still needed was removed, see max_slot_wal_keep_size); the changes since it last confirmed are gone: drop the slot and start again with a new clone"
        )));
    }
    if plugin != request.plugin.name() {
        return Err(Failure::source(format!(
            "replication slot \"{name}\" uses plugin {plugin}, not {}: resume with --plugin {plugin}",
            request.plugin.name()
        )));
    }
    if let Some(pid) = active_pid {
        return Err(Failure::source(format!(
            "replication slot \"{name}\" is in use by process {pid} on the source: stop the other pgcopydb (or SELECT pg_terminate_backend({pid})) first"
        )));
    }
    let confirmed_flush = confirmed
        .map(|text| {
            text.parse::<Lsn>()
                .map_err(|e| Failure::source(format!("replication slot \"{name}\": {e}")))
        })
        .transpose()?;
    Ok(Some(ExistingSlot {
        plugin,
        active_pid,
        database,
        confirmed_flush,
    }))
}

async fn check_free_slot(client: &Client) -> Result<(), Failure> {
    let row = client
        .query_one(
            "SELECT current_setting('max_replication_slots')::int, \
                    (SELECT count(*)::int FROM pg_replication_slots)",
            &[],
        )
        .await
        .map_err(|e| query_failed("max_replication_slots", &e))?;
    let max: i32 = column(&row, 0, "max_replication_slots")?;
    let used: i32 = column(&row, 1, "replication slots")?;
    if used >= max {
        return Err(Failure::source(format!(
            "no free replication slot on the source: max_replication_slots = {max} and {used} slots exist (see pg_replication_slots): drop an unused slot, or raise max_replication_slots and restart the source"
        )));
    }
    Ok(())
}

async fn check_free_wal_sender(client: &Client) -> Result<(), Failure> {
    let row = client
        .query_one(
            "SELECT current_setting('max_wal_senders')::int, \
                    (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'walsender')",
            &[],
        )
        .await
        .map_err(|e| query_failed("max_wal_senders", &e))?;
    let max: i32 = column(&row, 0, "max_wal_senders")?;
    let used: i32 = column(&row, 1, "WAL senders")?;
    if used >= max {
        return Err(Failure::source(format!(
            "no free WAL sender on the source: max_wal_senders = {max} and {used} are in use (see pg_stat_replication): end an unused replication connection, or raise max_wal_senders and restart the source"
        )));
    }
    Ok(())
}

/// Whether the source can load output plugin `name`, without superuser:
/// a temporary slot is created with it and dropped. The plugin library is
/// loaded before the slot waits for running transactions, so a statement
/// timeout that cuts that wait short still means "loadable".
pub async fn check_plugin_available(client: &Client, name: &str) -> Result<(), Failure> {
    client
        .batch_execute("SET statement_timeout = '5s'")
        .await
        .map_err(|e| query_failed("the output plugin", &e))?;
    let created = client
        .query_one(
            "SELECT slot_name::text FROM pg_create_logical_replication_slot(\
             'pgcopydb_preflight_' || pg_backend_pid(), $1, true)",
            &[&name],
        )
        .await;
    let outcome = match created {
        Ok(_) => client
            .execute(
                "SELECT pg_drop_replication_slot('pgcopydb_preflight_' || pg_backend_pid())",
                &[],
            )
            .await
            .map(|_| ())
            .map_err(|e| query_failed("the output plugin", &e)),
        Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_FILE) => {
            let why = e
                .as_db_error()
                .map_or(String::new(), |db| db.message().to_string());
            Err(Failure::source(format!(
                "the source has no logical decoding plugin \"{name}\" ({why}): install it on the source server (Debian: postgresql-<major>-{}) or choose another --plugin",
                name.replace('_', "-")
            )))
        }
        Err(e) => Err(query_failed(&format!("the output plugin \"{name}\""), &e)),
    };
    client
        .batch_execute("RESET statement_timeout")
        .await
        .map_err(|e| query_failed("the output plugin", &e))?;
    outcome
}

/// Names listed in a refusal before the rest is only counted.
const NAMES_SHOWN: usize = 10;

/// The followed tables (those `filters` keep) whose UPDATEs and DELETEs
/// cannot be located on the target: no primary key under the DEFAULT
/// identity, identity NOTHING, or USING an index since dropped. The source
/// logs no key for them (pgoutput and wal2json send nothing to find the row
/// by), so a follow would stop at their first UPDATE or DELETE, or miss it:
/// refused before anything is written, for every plugin. The original has
/// no option to go on regardless, nor has this one.
///
/// `publication`: pgoutput's; when it exists already (given by the user, or
/// left by an earlier setup) only the tables it publishes are followed.
pub async fn check_replica_identities(
    source: &ConnInfo,
    filters: &Filters,
    publication: Option<&str>,
) -> Result<(), Failure> {
    let client = source
        .connect()
        .await
        .map_err(|e| crate::connections::Side::Source.connect_failure(&e))?;
    // Classified from the chain: a link lost while reading the catalog is
    // a lost link (retried), not a refusal.
    let tables = SourceTables::load(&client).await.map_err(|e| {
        let kind = match crate::error::Error::classify(&e).kind {
            crate::error::Kind::Internal => crate::error::Kind::Server,
            kind => kind,
        };
        Failure::new(
            kind,
            crate::error::Side::Source,
            format!("cannot check replica identities on the source: {e:#}"),
        )
    })?;
    let published = match publication {
        Some(name) => published_tables(&client, name).await?,
        None => None,
    };
    let lacking: Vec<String> = tables
        .without_identity()
        .into_iter()
        .filter(|t| !filters.table_excluded(&t.schema, &t.name, 'r'))
        .filter(|t| {
            published
                .as_ref()
                .is_none_or(|p| p.contains(&(t.schema.clone(), t.name.clone())))
        })
        .map(|t| {
            let why = match t.replica_identity {
                ReplicaIdentity::Nothing => "REPLICA IDENTITY NOTHING",
                ReplicaIdentity::Index => "its identity index is gone",
                ReplicaIdentity::Default | ReplicaIdentity::Full => "no primary key",
            };
            format!(
                "{}.{} ({why})",
                quote_ident(&t.schema),
                quote_ident(&t.name)
            )
        })
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let mut names = lacking
        .iter()
        .take(NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if lacking.len() > NAMES_SHOWN {
        names.push_str(&format!(" and {} more", lacking.len() - NAMES_SHOWN));
    }
    Err(Failure::source(format!(
        "{} followed tables have no usable replica identity, so their UPDATEs and DELETEs cannot be applied: {names}; on the source run ALTER TABLE ... REPLICA IDENTITY FULL (or ADD PRIMARY KEY, or REPLICA IDENTITY USING INDEX a unique index on NOT NULL columns), or leave them out with --filters",
        lacking.len()
    )))
}

/// The tables publication `name` publishes (as `pg_publication_tables`
/// lists them: partitioned roots under `publish_via_partition_root`), or
/// None when it does not exist yet (it will be made from the filters).
async fn published_tables(
    client: &Client,
    name: &str,
) -> Result<Option<HashSet<(String, String)>>, Failure> {
    let what = "the publication's tables";
    let exists = client
        .query_one(
            "SELECT count(*) > 0 FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&name],
        )
        .await
        .map_err(|e| query_failed(what, &e))?;
    if !column::<bool>(&exists, 0, what)? {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables \
             WHERE pubname = $1",
            &[&name],
        )
        .await
        .map_err(|e| query_failed(what, &e))?;
    let mut tables = HashSet::new();
    for row in &rows {
        tables.insert((column(row, 0, what)?, column(row, 1, what)?));
    }
    Ok(Some(tables))
}

async fn current_wal_lsn(client: &Client) -> Result<Lsn, Failure> {
    let row = client
        .query_one(
            "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                          ELSE pg_current_wal_lsn() END)::text",
            &[],
        )
        .await
        .map_err(|e| query_failed("the current WAL position", &e))?;
    let text: Option<String> = column(&row, 0, "the current WAL position")?;
    let text = text.unwrap_or_else(|| "0/0".to_string());
    text.parse()
        .map_err(|e| Failure::source(format!("the current WAL position: {e}")))
}

/// An endpos before the start would stop before the first change, leaving
/// the target behind what the user asked for.
pub fn check_endpos(start: Lsn, endpos: Lsn) -> Result<(), Failure> {
    if endpos < start {
        return Err(Failure::args(format!(
            "--endpos {endpos} is behind the start position {start}: nothing before {start} can be streamed; choose an endpos at or after {start}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpos_behind_start_is_refused() {
        let start: Lsn = "0/1000".parse().unwrap();
        assert!(check_endpos(start, start).is_ok());
        assert!(check_endpos(start, "1/0".parse().unwrap()).is_ok());
        let err = check_endpos(start, "0/FFF".parse().unwrap()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadArgs);
        assert!(err
            .message
            .contains("0/FFF is behind the start position 0/1000"));
    }
}
