//! While the data phase runs, ask each server once a second what our
//! sessions are doing: the COPYs in flight (`pg_stat_progress_copy`,
//! PostgreSQL 14+; `COPY TO` on the source, `COPY FROM` on the target) and
//! the index builds on the target (`pg_stat_progress_create_index`). One
//! query per server per sample, whatever the number of tables.
//!
//! Only our own work is reported: sessions of this database with the run's
//! `application_name` (as `resume::stop_leftover_queries` finds them), on
//! tables of the run's catalog. The sample goes to [`Progress`] (live
//! display, `--metrics-addr`) and to the work directory (`list progress`).
//!
//! Sampling never fails the run: a server that will not answer is reported
//! once and left out of the samples.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_postgres::{Client, Row};

use crate::catalog::{Catalog, Table};
use crate::connections::{connect, Side};
use crate::conninfo::ConnInfo;
use crate::report::in_flight::{CopyInFlight, InFlight, IndexBuild};
use crate::report::progress::Progress;

const INTERVAL: Duration = Duration::from_secs(1);

/// The COPYs of one command (`COPY TO` or `COPY FROM`) by sessions named `$1`.
/// A `COPY (SELECT ...) TO` (a part of a split table) has no relation: its
/// query tells the table.
fn copies_sql(command: &str) -> String {
    format!(
        "SELECT 'copy' AS kind, n.nspname::text, c.relname::text, a.query, \
                NULL::text AS index_name, NULL::text AS phase, \
                p.bytes_processed AS done, p.bytes_total AS total, \
                p.tuples_processed AS tuples_done, NULL::bigint AS tuples_total \
         FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid \
         LEFT JOIN pg_class c ON c.oid = p.relid \
         LEFT JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE p.datname = current_database() AND a.application_name = $1 \
           AND p.command = '{command}'"
    )
}

/// The index builds by sessions named `$1`. A plain CREATE INDEX reports no
/// index oid (only CONCURRENTLY does): its query tells the index.
const INDEXES_SQL: &str = "SELECT 'index' AS kind, n.nspname::text, c.relname::text, a.query, \
        i.relname::text AS index_name, p.phase, \
        p.blocks_done AS done, p.blocks_total AS total, \
        p.tuples_done, p.tuples_total \
 FROM pg_stat_progress_create_index p JOIN pg_stat_activity a ON a.pid = p.pid \
 LEFT JOIN pg_class c ON c.oid = p.relid \
 LEFT JOIN pg_namespace n ON n.oid = c.relnamespace \
 LEFT JOIN pg_class i ON i.oid = p.index_relid \
 WHERE p.datname = current_database() AND a.application_name = $1";

/// What to ask one server, and under which session name our sessions run.
struct Probe {
    side: Side,
    sql: String,
    application_name: String,
}

impl Probe {
    /// The source's `COPY TO`s, from PostgreSQL 14 on (13 has no view).
    fn source(info: &ConnInfo, major: u32) -> Option<Probe> {
        (major >= 14).then(|| Probe {
            side: Side::Source,
            sql: copies_sql("COPY TO"),
            application_name: application_name(info),
        })
    }
    /// The target's `COPY FROM`s (14+) and index builds.
    fn target(info: &ConnInfo, major: u32) -> Probe {
        let sql = if major >= 14 {
            format!("{} UNION ALL {INDEXES_SQL}", copies_sql("COPY FROM"))
        } else {
            INDEXES_SQL.to_string()
        };
        Probe {
            side: Side::Target,
            sql,
            application_name: application_name(info),
        }
    }
    async fn rows(&self, client: &Client) -> Result<Vec<Row>> {
        Ok(client.query(&self.sql, &[&self.application_name]).await?)
    }
}

fn application_name(info: &ConnInfo) -> String {
    info.application_name().unwrap_or("pgcopydb").to_string()
}

pub(super) struct Sampler {
    source_info: ConnInfo,
    source: Option<Probe>,
    target: Probe,
    tables: HashMap<String, Arc<Table>>,
    dir: PathBuf,
    progress: Arc<Progress>,
}

impl Sampler {
    pub(super) fn new(
        endpoints: &crate::connections::Endpoints,
        (source_major, target_major): (u32, u32),
        catalog: &Catalog,
        dir: PathBuf,
        progress: Arc<Progress>,
    ) -> Sampler {
        Sampler {
            source_info: endpoints.source.clone(),
            source: Probe::source(&endpoints.source, source_major),
            target: Probe::target(&endpoints.target, target_major),
            tables: catalog
                .tables
                .iter()
                .map(|t| (t.label(), t.clone()))
                .collect(),
            dir,
            progress,
        }
    }

    /// Sample until dropped. `target` is the run's control connection, idle
    /// meanwhile (no connection is added to the target's budget); the
    /// source's is opened here, in the slot the catalog reader left.
    pub(super) async fn run(self, target: &Client) {
        let source = match &self.source {
            Some(_) => match connect(Side::Source, &self.source_info).await {
                Ok(client) => Some(client),
                Err(e) => {
                    tracing::warn!("progress of the source's COPYs is not shown: {e:#}");
                    None
                }
            },
            None => None,
        };
        let mut warned = (source.is_none(), false, false);
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let mut sample = InFlight {
                sampled_at: crate::report::progress::unix_now(),
                ..InFlight::default()
            };
            if let (Some(probe), Some(client)) = (&self.source, &source) {
                self.take(probe, client, &mut sample, &mut warned.0).await;
            }
            self.take(&self.target, target, &mut sample, &mut warned.1)
                .await;
            if let Err(e) = sample.save(&self.dir) {
                if !std::mem::replace(&mut warned.2, true) {
                    tracing::warn!("in-flight progress not saved for `list progress`: {e:#}");
                }
            }
            self.progress.set_sampled(sample);
        }
    }

    /// Add what `probe` finds on `client` to `sample`; a failure is told
    /// once (`warned`), then the server is left out quietly.
    async fn take(&self, probe: &Probe, client: &Client, sample: &mut InFlight, warned: &mut bool) {
        match probe.rows(client).await.and_then(|rows| {
            rows.iter()
                .try_for_each(|row| self.read(probe.side, row, sample))
        }) {
            Ok(()) => {}
            Err(e) if !std::mem::replace(warned, true) => tracing::warn!(
                "progress of the {}'s COPYs and index builds is not shown: {e:#}",
                probe.side.name()
            ),
            Err(_) => {}
        }
    }

    /// One row of a probe: kept when it is about a table of ours.
    fn read(&self, side: Side, row: &Row, sample: &mut InFlight) -> Result<()> {
        let kind: String = row.try_get("kind")?;
        let schema: Option<String> = row.try_get("nspname")?;
        let relation: Option<String> = row.try_get("relname")?;
        let query: Option<String> = row.try_get("query")?;
        let query = query.unwrap_or_default();
        let Some(table) = self.table(schema.zip(relation), &query) else {
            return Ok(());
        };
        let done: Option<i64> = row.try_get("done")?;
        let total: Option<i64> = row.try_get("total")?;
        let tuples_done: Option<i64> = row.try_get("tuples_done")?;
        if kind == "copy" {
            sample.copies.push(CopyInFlight {
                side: side.name().to_string(),
                table: table.label(),
                bytes_processed: done.unwrap_or(0),
                // 0 when the input is a client stream: unknown.
                bytes_total: total.filter(|&t| t > 0),
                tuples_processed: tuples_done.unwrap_or(0),
            });
            return Ok(());
        }
        let index_name: Option<String> = row.try_get("index_name")?;
        let phase: Option<String> = row.try_get("phase")?;
        let tuples_total: Option<i64> = row.try_get("tuples_total")?;
        sample.indexes.push(IndexBuild {
            index: match index_name {
                Some(name) => Some(format!("{}.{name}", table.schema)),
                None => index_of(table, &query),
            },
            table: table.label(),
            phase: phase.unwrap_or_default(),
            blocks_done: done.unwrap_or(0),
            blocks_total: total.unwrap_or(0),
            tuples_done: tuples_done.unwrap_or(0),
            tuples_total: tuples_total.unwrap_or(0),
        });
        Ok(())
    }

    /// The catalog table a progress row is about: by its relation, else by
    /// the `FROM ONLY <table>` of a part's query.
    fn table(&self, relation: Option<(String, String)>, query: &str) -> Option<&Table> {
        match relation {
            Some((schema, name)) => self.tables.get(&format!("{schema}.{name}")),
            None => self
                .tables
                .values()
                .find(|t| query.contains(&format!("FROM ONLY {} ", t.qualified()))),
        }
        .map(|t| &**t)
    }
}

/// The index of `table` a build's query creates: the query is the index's
/// definition (perhaps with IF NOT EXISTS, perhaps cut short by
/// `track_activity_query_size`), or the ALTER TABLE adding its constraint.
fn index_of(table: &Table, query: &str) -> Option<String> {
    let query = query.replacen(" IF NOT EXISTS ", " ", 1);
    let query = query.trim_end_matches(';');
    table
        .indexes
        .iter()
        .find(|i| {
            (!query.is_empty() && i.definition.starts_with(query))
                || i.constraint.as_ref().is_some_and(|c| {
                    query.contains(&format!("CONSTRAINT {} ", crate::sql::quote_ident(&c.name)))
                })
        })
        .map(|i| i.label())
}
