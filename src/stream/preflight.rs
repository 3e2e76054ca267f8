//! Checks run on the source before change data capture writes anything
//! (a slot, a publication, a work directory): each refusal is one line
//! naming the setting at fault and what to do about it.
//!
//! They run on one source connection, each in a single round trip (an
//! unnamed statement, not a prepared one): start-up waits on every one.
//! The plugin check creates (and drops) a temporary slot under a statement
//! timeout it resets, so a caller's session is left as it was.

use std::collections::HashSet;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
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

/// Runs every check, in the order a user would fix them, on a connection
/// of its own.
pub async fn preflight(source: &ConnInfo, request: &Request<'_>) -> Result<Preflight, Failure> {
    let client = source
        .connect()
        .await
        .map_err(|e| crate::connections::Side::Source.connect_failure(&e))?;
    preflight_on(&client, request).await
}

/// [`preflight`] on `client`, which it leaves as it found it. What the
/// checks read comes in two round trips (the server's settings and
/// counts, then the slot): start-up waits on each one.
pub async fn preflight_on(client: &Client, request: &Request<'_>) -> Result<Preflight, Failure> {
    let facts = SourceFacts::read(client).await?;
    facts.check_wal_level()?;
    facts.check_replication_privilege()?;
    let existing_slot = check_slot(client, request).await?;
    if existing_slot.is_none() {
        facts.check_free_slot()?;
    }
    facts.check_free_wal_sender()?;
    if existing_slot.is_none() && request.plugin != Plugin::Pgoutput {
        // pgoutput is built into every server that has logical decoding.
        check_plugin_available(client, request.plugin.name()).await?;
    }
    let start = match existing_slot.as_ref().and_then(|s| s.confirmed_flush) {
        Some(lsn) => lsn,
        None => facts.current_wal_lsn()?,
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

/// The source's settings and counts the checks judge, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceFacts {
    wal_level: String,
    user: String,
    /// REPLICATION or superuser.
    can_replicate: bool,
    max_slots: i32,
    used_slots: i32,
    max_wal_senders: i32,
    used_wal_senders: i32,
    /// The WAL position now (the replayed one on a standby), as text.
    wal_position: Option<String>,
}

const FACTS_SQL: &str = "SELECT current_setting('wal_level'), current_user::text, \
        coalesce((SELECT r.rolreplication OR r.rolsuper FROM pg_catalog.pg_roles r \
                  WHERE r.rolname = current_user), false), \
        current_setting('max_replication_slots')::int, \
        (SELECT count(*)::int FROM pg_catalog.pg_replication_slots), \
        current_setting('max_wal_senders')::int, \
        (SELECT count(*)::int FROM pg_catalog.pg_stat_activity \
          WHERE backend_type = 'walsender'), \
        (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
              ELSE pg_current_wal_lsn() END)::text";

impl SourceFacts {
    async fn read(client: &Client) -> Result<SourceFacts, Failure> {
        // Unnamed statement: one round trip, where a prepared one takes two.
        let row = client
            .query_typed(FACTS_SQL, &[])
            .await
            .map_err(|e| query_failed("wal_level and the replication settings", &e))?;
        let row = row.first().ok_or_else(|| {
            Failure::source("cannot check wal_level on the source: the query returned no row")
        })?;
        Ok(SourceFacts {
            wal_level: column(row, 0, "wal_level")?,
            user: column(row, 1, "the current user")?,
            can_replicate: column(row, 2, "the REPLICATION attribute")?,
            max_slots: column(row, 3, "max_replication_slots")?,
            used_slots: column(row, 4, "replication slots")?,
            max_wal_senders: column(row, 5, "max_wal_senders")?,
            used_wal_senders: column(row, 6, "WAL senders")?,
            wal_position: column(row, 7, "the current WAL position")?,
        })
    }

    fn check_wal_level(&self) -> Result<(), Failure> {
        let level = &self.wal_level;
        if level != "logical" {
            return Err(Failure::source(format!(
                "the source has wal_level = {level}; change data capture needs wal_level = logical: run ALTER SYSTEM SET wal_level = logical on the source, then restart it (wal_level only changes at server start)"
            )));
        }
        Ok(())
    }

    fn check_replication_privilege(&self) -> Result<(), Failure> {
        if !self.can_replicate {
            let user = &self.user;
            return Err(Failure::source(format!(
                "role \"{user}\" lacks the REPLICATION attribute needed to stream changes: run ALTER ROLE {} REPLICATION on the source as a superuser, or connect as a role that has it",
                quote_ident(user)
            )));
        }
        Ok(())
    }

    fn check_free_slot(&self) -> Result<(), Failure> {
        let (max, used) = (self.max_slots, self.used_slots);
        if used >= max {
            return Err(Failure::source(format!(
                "no free replication slot on the source: max_replication_slots = {max} and {used} slots exist (see pg_replication_slots): drop an unused slot, or raise max_replication_slots and restart the source"
            )));
        }
        Ok(())
    }

    fn check_free_wal_sender(&self) -> Result<(), Failure> {
        let (max, used) = (self.max_wal_senders, self.used_wal_senders);
        if used >= max {
            return Err(Failure::source(format!(
                "no free WAL sender on the source: max_wal_senders = {max} and {used} are in use (see pg_stat_replication): end an unused replication connection, or raise max_wal_senders and restart the source"
            )));
        }
        Ok(())
    }

    fn current_wal_lsn(&self) -> Result<Lsn, Failure> {
        self.wal_position
            .as_deref()
            .unwrap_or("0/0")
            .parse()
            .map_err(|e| Failure::source(format!("the current WAL position: {e}")))
    }
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
        .query_typed(
            "SELECT s.plugin::text, s.active_pid, s.database::text, \
                    s.confirmed_flush_lsn::text, s.slot_type, \
                    to_jsonb(s) ->> 'wal_status', current_database()::text \
             FROM pg_replication_slots s WHERE s.slot_name::text = $1",
            &[(&name, Type::TEXT)],
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
    client: &Client,
    filters: &Filters,
    publication: Option<&str>,
) -> Result<(), Failure> {
    // Classified from the chain: a link lost while reading the catalog is
    // a lost link (retried), not a refusal.
    let tables = SourceTables::load(client).await.map_err(|e| {
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
        Some(name) => published_tables(client, name).await?,
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
    // No row: no such publication; one row of NULLs: it publishes nothing.
    let rows = client
        .query_typed(
            "SELECT t.schemaname::text, t.tablename::text \
               FROM pg_catalog.pg_publication p \
               LEFT JOIN pg_catalog.pg_publication_tables t ON t.pubname = p.pubname \
              WHERE p.pubname::text = $1",
            &[(&name, Type::TEXT)],
        )
        .await
        .map_err(|e| query_failed(what, &e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut tables = HashSet::new();
    for row in &rows {
        let schema: Option<String> = column(row, 0, what)?;
        let table: Option<String> = column(row, 1, what)?;
        if let (Some(schema), Some(table)) = (schema, table) {
            tables.insert((schema, table));
        }
    }
    Ok(Some(tables))
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
