//! What `--resume` checks before continuing a run: that it continues the
//! same copy (same servers, same plan-shaping options).

use anyhow::Result;

use super::CloneOptions;
use crate::connections::Endpoints;
use crate::error::Failure;
use crate::workdir::state::State;

/// The settings recorded for a run; the first group must not change on resume.
pub fn setup_entries(
    endpoints: &Endpoints,
    opts: &CloneOptions,
    snapshot: Option<&str>,
) -> Vec<(&'static str, String)> {
    vec![
        ("source", endpoints.source.safe_display()),
        ("target", endpoints.target.safe_display()),
        ("skip_large_objects", opts.skip_large_objects.to_string()),
        ("split_tables_larger_than", opts.split.threshold.to_string()),
        ("split_max_parts", opts.split.max_parts.to_string()),
        ("skip_split_by_ctid", opts.skip_split_by_ctid.to_string()),
        ("filters", opts.filters.describe()),
        ("snapshot", snapshot.unwrap_or("").to_string()),
    ]
}

/// Settings that shape the plan: a resumed run must use the same.
const MUST_MATCH: &[(&str, &str)] = &[
    ("source", "--source"),
    ("target", "--target"),
    ("skip_large_objects", "--skip-large-objects"),
    ("split_tables_larger_than", "--split-tables-larger-than"),
    ("split_max_parts", "--split-max-parts"),
    ("skip_split_by_ctid", "--skip-split-by-ctid"),
    ("filters", "--filters"),
];

pub fn check_setup(
    state: &State,
    endpoints: &Endpoints,
    opts: &CloneOptions,
    steps: super::Steps,
) -> Result<()> {
    let recorded = state.catalog().setup()?;
    for (key, value) in setup_entries(endpoints, opts, None) {
        // What the step does not know: a dump has no target, a restore
        // without --source works from the dump's.
        if (key == "target" && !steps.touches_target()) || (key == "source" && opts.without_source)
        {
            continue;
        }
        let Some((_, option)) = MUST_MATCH.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        if let Some(before) = recorded.get(key) {
            if *before != value {
                let shown = |v: &str| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.to_string()
                    }
                };
                let (before, value) = (shown(before), shown(&value));
                return Err(Failure::state(format!(
                    "cannot resume: {option} differs from the run recorded in {} (was {before}, now {value}); \
                     use the same setting, or --restart to start over",
                    opts.dir.display()
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// Dump ids of post-data entries whose object already exists on the target
/// (an interrupted post-data restore created them). Objects are matched by
/// kind, table and name: the archive knows them by source OID, so the source
/// names them and the target is searched for the same names.
pub async fn existing_post_data(
    endpoints: &Endpoints,
    entries: &[crate::schema::TocEntry],
) -> Result<std::collections::HashSet<u32>> {
    use crate::connections::{connect, Side};
    let oids: Vec<u32> = entries.iter().map(|e| e.obj_oid).collect();
    let source = connect(Side::Source, &endpoints.source).await?;
    let target = connect(Side::Target, &endpoints.target).await?;
    let named: std::collections::HashMap<u32, String> = source
        .query(
            &format!("SELECT oid, key FROM ({OBJECT_KEYS}) k WHERE oid = ANY($1)"),
            &[&oids],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let present: std::collections::HashSet<String> = target
        .query(&format!("SELECT key FROM ({OBJECT_KEYS}) k"), &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(entries
        .iter()
        .filter(|e| named.get(&e.obj_oid).is_some_and(|k| present.contains(k)))
        .map(|e| e.dump_id)
        .collect())
}

/// Post-data objects that a re-run would fail to create twice, each with a
/// key that is the same on both servers.
const OBJECT_KEYS: &str = "\
    SELECT c.oid, 'constraint|' || format('%I.%I', n.nspname, r.relname) || '|' || c.conname AS key \
      FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace \
    UNION ALL \
    SELECT i.oid, 'index|' || format('%I.%I', n.nspname, i.relname) \
      FROM pg_class i JOIN pg_namespace n ON n.oid = i.relnamespace WHERE i.relkind IN ('i', 'I') \
    UNION ALL \
    SELECT t.oid, 'trigger|' || format('%I.%I', n.nspname, r.relname) || '|' || t.tgname \
      FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace \
     WHERE NOT t.tgisinternal \
    UNION ALL \
    SELECT w.oid, 'rule|' || format('%I.%I', n.nspname, r.relname) || '|' || w.rulename \
      FROM pg_rewrite w JOIN pg_class r ON r.oid = w.ev_class JOIN pg_namespace n ON n.oid = r.relnamespace \
    UNION ALL \
    SELECT p.oid, 'policy|' || format('%I.%I', n.nspname, r.relname) || '|' || p.polname \
      FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid JOIN pg_namespace n ON n.oid = r.relnamespace \
    UNION ALL \
    SELECT e.oid, 'event trigger|' || e.evtname FROM pg_event_trigger e";

/// Stop what an interrupted run left running on the target. A server only
/// notices that its client died when it next writes to it, so a CREATE INDEX
/// or a pg_restore statement of a killed run goes on and commits, and would
/// clash with the same work redone now. Called on the run's first target
/// connection, before any other of ours exists.
pub async fn stop_leftover_queries(
    target: &tokio_postgres::Client,
    application_name: &str,
) -> Result<()> {
    const LEFTOVERS: &str = "SELECT pid FROM pg_stat_activity \
        WHERE datname = current_database() AND application_name = $1 \
          AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
    let pids: Vec<i32> = target
        .query(LEFTOVERS, &[&application_name])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if pids.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        "stopping {} session(s) left on the target by the interrupted run",
        pids.len()
    );
    target
        .execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
            &[&pids],
        )
        .await?;
    for _ in 0..300 {
        let left = target
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await?
            .try_get::<_, i64>(0)?;
        if left == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(Failure::target(
        "sessions of the interrupted run are still running on the target; stop them and retry",
    )
    .into())
}
