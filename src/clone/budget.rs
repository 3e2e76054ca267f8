//! The connection budget: a run opens at most `--table-jobs` +
//! `--index-jobs` + 2 connections to the target (the control connection, the
//! copy workers — whose slots the large-object workers take over — the index
//! builds and ANALYZEs, and one connection for catalog-only DDL and
//! sequences) and `--table-jobs` + 2 to the source (the snapshot holder, the
//! copy workers, and the catalog reader or pg_dump). `pg_restore --jobs N`
//! opens N connections while the control connection is held.
//!
//! Users set jobs, not connections, and managed services set small limits:
//! before anything is written, the limits each server would apply to us
//! (the database's and the role's CONNECTION LIMIT, max_connections minus
//! the reserved slots) are read with what is already in use. When the plan
//! does not fit, the jobs are lowered with a warning that says so, or, with
//! `--fail-fast`, the run is refused naming the limit.

use anyhow::Result;
use tokio_postgres::Client;
use tracing::warn;

use super::CloneOptions;
use crate::connections::Side;
use crate::error::Failure;

/// Connections the plan opens on the target, at most.
pub fn target_connections(table_jobs: usize, index_jobs: usize) -> usize {
    table_jobs + index_jobs + 2
}

/// Connections the plan opens on the source, at most.
pub fn source_connections(table_jobs: usize) -> usize {
    table_jobs + 2
}

/// The tightest limit a server applies to our connections, and how many
/// more we may open, counting the one we are on as ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// How many connections this run may hold at once.
    pub allowed: usize,
    /// The limit that decides it, for messages.
    pub limit: String,
}

/// Facts read from a server, each `None` when it does not limit us.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub superuser: bool,
    pub database: String,
    pub role: String,
    pub datconnlimit: i32,
    pub database_in_use: i64,
    pub rolconnlimit: i32,
    pub role_in_use: i64,
    pub max_connections: i64,
    /// superuser_reserved_connections plus reserved_connections (16+).
    pub reserved: i64,
    pub server_in_use: i64,
}

const LIMITS_SQL: &str = "\
    SELECT r.rolsuper, d.datname::text, r.rolname::text, d.datconnlimit, \
           (SELECT count(*) FROM pg_stat_activity a \
             WHERE a.datid = d.oid AND a.backend_type = 'client backend'), \
           r.rolconnlimit, \
           (SELECT count(*) FROM pg_stat_activity a \
             WHERE a.usesysid = r.oid AND a.backend_type = 'client backend'), \
           current_setting('max_connections')::int8, \
           current_setting('superuser_reserved_connections')::int8 \
             + coalesce(current_setting('reserved_connections', true), '0')::int8, \
           (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend') \
      FROM pg_database d, pg_roles r \
     WHERE d.datname = current_database() AND r.rolname = current_user";

/// Reads the limits of the server `client` is connected to; `None` when
/// they cannot be read (then nothing is lowered: the run finds out).
pub async fn read_limits(client: &Client) -> Option<Limits> {
    let row = match client.query_opt(LIMITS_SQL, &[]).await {
        Ok(Some(row)) => row,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!("could not read the connection limits: {e}");
            return None;
        }
    };
    Some(Limits {
        superuser: row.try_get(0).ok()?,
        database: row.try_get(1).ok()?,
        role: row.try_get(2).ok()?,
        datconnlimit: row.try_get(3).ok()?,
        database_in_use: row.try_get(4).ok()?,
        rolconnlimit: row.try_get(5).ok()?,
        role_in_use: row.try_get(6).ok()?,
        max_connections: row.try_get(7).ok()?,
        reserved: row.try_get(8).ok()?,
        server_in_use: row.try_get(9).ok()?,
    })
}

impl Limits {
    /// The room left for a run whose control connection is already one of
    /// those in use. Superusers are subject to none of the CONNECTION LIMITs
    /// nor to the reserved slots, only to max_connections.
    pub fn room(&self) -> Option<Room> {
        let mut candidates = Vec::new();
        if !self.superuser && self.datconnlimit >= 0 {
            candidates.push((
                i64::from(self.datconnlimit) - self.database_in_use,
                format!(
                    "database \"{}\" CONNECTION LIMIT {} with {} in use",
                    self.database, self.datconnlimit, self.database_in_use
                ),
            ));
        }
        if !self.superuser && self.rolconnlimit >= 0 {
            candidates.push((
                i64::from(self.rolconnlimit) - self.role_in_use,
                format!(
                    "role \"{}\" CONNECTION LIMIT {} with {} in use",
                    self.role, self.rolconnlimit, self.role_in_use
                ),
            ));
        }
        let reserved = if self.superuser { 0 } else { self.reserved };
        candidates.push((
            self.max_connections - reserved - self.server_in_use,
            if reserved > 0 {
                format!(
                    "max_connections {} less {reserved} reserved slots, with {} in use",
                    self.max_connections, self.server_in_use
                )
            } else {
                format!(
                    "max_connections {} with {} in use",
                    self.max_connections, self.server_in_use
                )
            },
        ));
        candidates
            .into_iter()
            .min_by_key(|(free, _)| *free)
            .map(|(free, limit)| Room {
                // Our own connection is counted in use and is part of the plan.
                allowed: usize::try_from(free + 1).unwrap_or(0),
                limit,
            })
    }
}

/// Jobs that fit `target` and `source` rooms: the same as asked when they
/// fit, otherwise lowered in proportion, at least one of each.
pub fn fit(
    table_jobs: usize,
    index_jobs: usize,
    source: Option<usize>,
    target: Option<usize>,
) -> Option<(usize, usize)> {
    let mut tables = table_jobs.max(1);
    let mut indexes = index_jobs.max(1);
    if let Some(allowed) = source {
        if allowed < source_connections(1) {
            return None;
        }
        tables = tables.min(allowed - 2);
    }
    if let Some(allowed) = target {
        if allowed < target_connections(1, 1) {
            return None;
        }
        let workers = allowed - 2;
        if tables + indexes > workers {
            let share = (table_jobs.max(1) * workers) / (table_jobs.max(1) + index_jobs.max(1));
            tables = tables.min(share.max(1));
            indexes = indexes.min((workers - tables).max(1));
        }
    }
    Some((tables, indexes))
}

/// Reads both servers' limits and returns the options to run with.
pub async fn fit_options(
    source: Option<&Client>,
    target: &Client,
    opts: &CloneOptions,
) -> Result<CloneOptions> {
    // With --all-databases several clones share the instance-wide job
    // limits; each database's connections are counted by its own clone.
    if opts.limits.is_some() {
        return Ok(opts.clone());
    }
    // A restore step without --source opens no source connection.
    let source_room = match source {
        Some(source) => read_limits(source).await.and_then(|l| l.room()),
        None => None,
    };
    let target_room = read_limits(target).await.and_then(|l| l.room());
    let needs_source = source_connections(opts.table_jobs);
    let needs_target = target_connections(opts.table_jobs, opts.index_jobs);
    let short = [
        (Side::Source, &source_room, needs_source),
        (Side::Target, &target_room, needs_target),
    ]
    .into_iter()
    .filter_map(|(side, room, needs)| {
        room.as_ref()
            .filter(|r| r.allowed < needs)
            .map(|r| (side, r, needs))
    })
    .collect::<Vec<_>>();
    let restore_room = target_room.as_ref().map(|r| r.allowed.saturating_sub(1));
    let restore_jobs = match restore_room {
        Some(room) if opts.restore_jobs > room => room.max(1),
        _ => opts.restore_jobs,
    };
    if short.is_empty() {
        return Ok(CloneOptions {
            restore_jobs,
            ..opts.clone()
        });
    }
    let asked = format!(
        "--table-jobs {} and --index-jobs {}",
        opts.table_jobs, opts.index_jobs
    );
    let explain = short
        .iter()
        .map(|(side, room, needs)| {
            format!(
                "the {} allows this run {} connections ({}) and {asked} need {needs}",
                side.name(),
                room.allowed,
                room.limit
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let fitted = fit(
        opts.table_jobs,
        opts.index_jobs,
        source_room.as_ref().map(|r| r.allowed),
        target_room.as_ref().map(|r| r.allowed),
    );
    let refuse = |what: String| -> anyhow::Error {
        match short.first().map(|(side, ..)| *side) {
            Some(Side::Source) => Failure::source(what).into(),
            _ => Failure::target(what).into(),
        }
    };
    let Some((table_jobs, index_jobs)) = fitted else {
        return Err(refuse(format!(
            "{explain}: not even one copy and one index job fit; free connections or raise the limit"
        )));
    };
    if opts.fail_fast {
        return Err(refuse(format!(
            "{explain}: lower the jobs or raise the limit (without --fail-fast, the jobs are lowered to fit)"
        )));
    }
    warn!("{explain}: running with --table-jobs {table_jobs} and --index-jobs {index_jobs}");
    Ok(CloneOptions {
        table_jobs,
        index_jobs,
        restore_jobs: restore_jobs.min(target_connections(table_jobs, index_jobs) - 1),
        ..opts.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_fit_unchanged_when_there_is_room() {
        assert_eq!(fit(4, 4, Some(100), Some(10)), Some((4, 4)));
        assert_eq!(fit(4, 4, None, None), Some((4, 4)));
    }

    #[test]
    fn jobs_are_lowered_in_proportion() {
        // A database CONNECTION LIMIT 10 with one session in use: 9 + ours.
        assert_eq!(fit(4, 4, None, Some(9)), Some((3, 4)));
        assert_eq!(fit(8, 8, None, Some(12)), Some((5, 5)));
        assert_eq!(fit(8, 2, None, Some(6)), Some((3, 1)));
        // The source limits the copy workers only.
        assert_eq!(fit(8, 2, Some(5), Some(100)), Some((3, 2)));
        // Never below one of each; refused when even that does not fit.
        assert_eq!(fit(4, 4, None, Some(4)), Some((1, 1)));
        assert_eq!(fit(4, 4, None, Some(3)), None);
        assert_eq!(fit(4, 4, Some(2), None), None);
    }

    #[test]
    fn the_tightest_limit_decides() {
        let limits = Limits {
            superuser: false,
            database: "app".into(),
            role: "loader".into(),
            datconnlimit: 10,
            database_in_use: 2,
            rolconnlimit: 6,
            role_in_use: 1,
            max_connections: 100,
            reserved: 3,
            server_in_use: 20,
        };
        let room = limits.room().unwrap();
        assert_eq!(room.allowed, 6);
        assert!(room.limit.contains("role \"loader\""), "{}", room.limit);
        let superuser = Limits {
            superuser: true,
            max_connections: 12,
            server_in_use: 4,
            ..limits
        };
        let room = superuser.room().unwrap();
        assert_eq!(room.allowed, 9);
        assert!(room.limit.contains("max_connections 12"), "{}", room.limit);
    }
}
