//! How much memory each index build may sort in (`maintenance_work_mem`).
//!
//! The server default (64MB) spills even mid-sized indexes to disk, so each
//! index job gets a larger budget, as the original pgcopydb does (it sets
//! 1GB whatever the machine). A fixed figure times the number of index jobs
//! can exhaust a small target, so the budget comes from the target's
//! available memory when the server lets us read it, and a DBA's own
//! setting is kept.

use tokio_postgres::Client;
use tracing::debug;

const MB: u64 = 1024 * 1024;
/// No use going below the server's own default.
const FLOOR: u64 = 64 * MB;
/// Sorting gains little past this (and the original uses 1GB).
const CEILING: u64 = 1024 * MB;
/// When the target's memory is unknown: what all jobs together may use.
const UNKNOWN_TOTAL: u64 = 2048 * MB;
/// When the target's memory is unknown: what one job may use.
const UNKNOWN_EACH: u64 = 512 * MB;

/// The `SET maintenance_work_mem` for index sessions, or None when the
/// target's administrator configured it (kept as they chose).
pub async fn index_session_setting(target: &Client, index_jobs: usize) -> Option<String> {
    let configured = target
        .query_opt(
            "SELECT source <> 'default' FROM pg_settings WHERE name = 'maintenance_work_mem'",
            &[],
        )
        .await
        .ok()
        .flatten()
        .is_some_and(|r| r.try_get::<_, bool>(0).unwrap_or(false));
    if configured {
        debug!("keeping the target's configured maintenance_work_mem");
        return None;
    }
    let available = available_memory(target).await;
    let each = per_job(available, index_jobs);
    debug!(
        "maintenance_work_mem {}MB for each of {index_jobs} index jobs (target memory available: {})",
        each / MB,
        available.map_or("unknown".to_string(), crate::report::size::pg_size_pretty)
    );
    Some(format!("SET maintenance_work_mem = '{}MB'", each / MB))
}

/// A quarter of the available memory, shared by the index jobs, within
/// [FLOOR, CEILING]. Unknown memory: a fixed total, shared the same way.
pub fn per_job(available: Option<u64>, index_jobs: usize) -> u64 {
    let jobs = index_jobs.max(1) as u64;
    let each = match available {
        Some(bytes) => bytes / 4 / jobs,
        None => (UNKNOWN_TOTAL / jobs).min(UNKNOWN_EACH),
    };
    // Whole megabytes, as the setting is written.
    (each.clamp(FLOOR, CEILING) / MB) * MB
}

/// MemAvailable of the target's machine, when the server runs on Linux and
/// the role may read server files (superuser or pg_read_server_files).
async fn available_memory(target: &Client) -> Option<u64> {
    let readable = target
        .query_one("SELECT pg_has_role('pg_read_server_files', 'MEMBER')", &[])
        .await
        .ok()?
        .try_get::<_, bool>(0)
        .ok()?;
    if !readable {
        return None;
    }
    let meminfo: String = target
        .query_one("SELECT pg_read_file('/proc/meminfo')", &[])
        .await
        .ok()?
        .try_get(0)
        .ok()?;
    parse_mem_available(&meminfo)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_memory_and_jobs() {
        let gb = 1024 * MB;
        // Plenty of memory: the ceiling.
        assert_eq!(per_job(Some(24 * gb), 2), CEILING);
        // 8GB available, 4 jobs: a quarter, shared.
        assert_eq!(per_job(Some(8 * gb), 4), 512 * MB);
        // A small machine with many jobs: never below the server default.
        assert_eq!(per_job(Some(gb), 16), FLOOR);
        // Unknown: 512MB each up to 4 jobs, then 2GB shared.
        assert_eq!(per_job(None, 2), 512 * MB);
        assert_eq!(per_job(None, 8), 256 * MB);
        assert_eq!(per_job(None, 0), 512 * MB);
    }

    #[test]
    fn reads_mem_available() {
        let meminfo =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(20_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }
}
