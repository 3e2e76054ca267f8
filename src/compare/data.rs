//! `compare data`: row counts and content checksums of every table the clone
//! copies, sequence values and large objects, on both sides at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use serde::Serialize;
use tokio_postgres::Client;
use tracing::{debug, info};

use crate::catalog::{read_catalog, Table, TableSizes};
use crate::connections::{Endpoints, Side};
use crate::filters::Filters;

use super::checksum::{self, RelName};
use crate::snapshot::{export_on, reader_on};

/// Row count and checksum of one table on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSum {
    pub rows: i64,
    pub checksum: String,
}

/// `rows`, and `rowcount` as the original pgcopydb's `compare data --json`
/// names it.
impl Serialize for TableSum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("TableSum", 3)?;
        s.serialize_field("rows", &self.rows)?;
        s.serialize_field("rowcount", &self.rows)?;
        s.serialize_field("checksum", &self.checksum)?;
        s.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Equal,
    MissingOnTarget,
    ColumnsDiffer,
    RowCountDiffers,
    ChecksumDiffers,
    ValueDiffers,
}

impl Status {
    pub fn is_equal(self) -> bool {
        self == Status::Equal
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Equal => "equal",
            Status::MissingOnTarget => "missing on target",
            Status::ColumnsDiffer => "columns differ",
            Status::RowCountDiffers => "row count differs",
            Status::ChecksumDiffers => "checksum differs",
            Status::ValueDiffers => "value differs",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    pub table: String,
    /// The original's keys for the table, beside our `table`.
    pub schema: String,
    pub name: String,
    pub source: TableSum,
    pub target: Option<TableSum>,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SequenceValue {
    pub last_value: i64,
    pub is_called: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SequenceCheck {
    pub sequence: String,
    pub source: SequenceValue,
    pub target: Option<SequenceValue>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct LargeObjectCheck {
    pub source_count: usize,
    pub target_count: usize,
    pub source_checksum: String,
    pub target_checksum: String,
    /// OIDs whose contents differ, or that exist on one side only.
    pub differing: Vec<u32>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataReport {
    pub source: String,
    pub target: String,
    pub source_snapshot: String,
    pub target_snapshot: String,
    pub tables: Vec<TableCheck>,
    pub sequences: Vec<SequenceCheck>,
    pub large_objects: LargeObjectCheck,
}

impl DataReport {
    /// How many objects were compared: tables, sequences, and the large
    /// objects counted as one.
    pub fn compared(&self) -> usize {
        self.tables.len() + self.sequences.len() + 1
    }
    pub fn differences(&self) -> usize {
        self.tables.iter().filter(|t| !t.status.is_equal()).count()
            + self
                .sequences
                .iter()
                .filter(|s| !s.status.is_equal())
                .count()
            + usize::from(!self.large_objects.status.is_equal())
    }
    pub fn is_equal(&self) -> bool {
        self.differences() == 0
    }
}

/// Compare the data of every table the clone copies (ordinary tables and
/// leaf partitions, not extension members), every sequence and every large
/// object. The source is read under `snapshot` when given — `clone --verify`
/// passes the snapshot its copy used — otherwise under a snapshot exported
/// here; the target under one exported here. `jobs` tables are summed at a
/// time, each on both sides at once. With `filters`, only the tables and
/// sequences a run with them copies are compared.
pub async fn compare_data(
    endpoints: &Endpoints,
    snapshot: Option<&str>,
    jobs: usize,
    filters: &Filters,
) -> Result<DataReport> {
    let (source_holder, target_holder) = tokio::try_join!(
        async {
            match snapshot {
                Some(_) => Ok(None),
                None => export_on(Side::Source, &endpoints.source).await.map(Some),
            }
        },
        export_on(Side::Target, &endpoints.target),
    )?;
    let source_snapshot = match (&source_holder, snapshot) {
        (Some(h), _) => h.id.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => unreachable!("a snapshot is exported when none is given"),
    };
    let target_snapshot = target_holder.id.clone();
    debug!("comparing under source snapshot {source_snapshot}, target snapshot {target_snapshot}");

    let (source, target) = tokio::try_join!(
        reader_on(Side::Source, &endpoints.source, Some(&source_snapshot)),
        reader_on(Side::Target, &endpoints.target, Some(&target_snapshot)),
    )?;
    let (mut catalog, source_columns, target_columns) = tokio::try_join!(
        async {
            read_catalog(&source, false, TableSizes::Exact)
                .await
                .context("reading the source catalog")
        },
        async {
            checksum::table_columns(&source)
                .await
                .context("on the source")
        },
        async {
            checksum::table_columns(&target)
                .await
                .context("on the target")
        },
    )?;
    super::scope::apply_to_catalog(filters, &source, &mut catalog).await?;
    info!(
        "comparing {} tables and {} sequences with {jobs} jobs",
        catalog.tables.len(),
        catalog.sequences.len()
    );

    let workers = jobs.clamp(1, catalog.tables.len().max(1));
    let queue: Mutex<VecDeque<&Table>> = Mutex::new(catalog.tables.iter().map(|t| &**t).collect());
    let shared = Shared {
        endpoints,
        source_snapshot: &source_snapshot,
        target_snapshot: &target_snapshot,
        queue: &queue,
        source_columns: &source_columns,
        target_columns: &target_columns,
    };
    let (table_batches, (sequences, large_objects)) =
        tokio::try_join!(try_join_all((0..workers).map(|_| shared.worker())), async {
            // Sequences and large objects on the first pair of sessions,
            // while the workers sum the tables.
            let sequences = compare_sequences(&catalog.sequences, &target).await?;
            let large_objects = compare_large_objects(&source, &target).await?;
            Ok::<_, anyhow::Error>((sequences, large_objects))
        },)?;
    let mut tables: Vec<TableCheck> = table_batches.into_iter().flatten().collect();
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(DataReport {
        source: endpoints.source.safe_display(),
        target: endpoints.target.safe_display(),
        source_snapshot,
        target_snapshot,
        tables,
        sequences,
        large_objects,
    })
}

/// What the table workers share.
struct Shared<'a> {
    endpoints: &'a Endpoints,
    source_snapshot: &'a str,
    target_snapshot: &'a str,
    queue: &'a Mutex<VecDeque<&'a Table>>,
    source_columns: &'a HashMap<RelName, Vec<String>>,
    target_columns: &'a HashMap<RelName, Vec<String>>,
}

impl Shared<'_> {
    /// One worker: a session on each side, tables taken from the queue
    /// until it is empty.
    async fn worker(&self) -> Result<Vec<TableCheck>> {
        let (source, target) = tokio::try_join!(
            reader_on(
                Side::Source,
                &self.endpoints.source,
                Some(self.source_snapshot)
            ),
            reader_on(
                Side::Target,
                &self.endpoints.target,
                Some(self.target_snapshot)
            ),
        )?;
        let mut checks = Vec::new();
        loop {
            let next = crate::sync::lock(self.queue).pop_front();
            let Some(table) = next else { break };
            let check = self
                .check_table(&source, &target, table)
                .await
                .with_context(|| format!("comparing table {}", table.label()))?;
            debug!("{}: {}", check.table, check.status.label());
            checks.push(check);
        }
        Ok(checks)
    }

    async fn check_table(&self, source: &Client, target: &Client, t: &Table) -> Result<TableCheck> {
        let key = (t.schema.clone(), t.name.clone());
        let source_cols = self.source_columns.get(&key).cloned().unwrap_or_default();
        let Some(target_cols) = self.target_columns.get(&key) else {
            // Never query a missing table: the error would abort the
            // worker's snapshot transaction.
            let source_sum = checksum::table_sum(
                source,
                &checksum::checksum_sql(&t.schema, &t.name, &source_cols),
            )
            .await?;
            return Ok(TableCheck {
                table: t.label(),
                schema: t.schema.clone(),
                name: t.name.clone(),
                source: source_sum,
                target: None,
                status: Status::MissingOnTarget,
            });
        };
        // Sum over the columns both sides have, so that the counts and the
        // data of the shared columns are still compared when a column is
        // missing; the table is reported as different anyway.
        let common: Vec<String> = source_cols
            .iter()
            .filter(|c| target_cols.contains(c))
            .cloned()
            .collect();
        let same_columns = common.len() == source_cols.len() && common.len() == target_cols.len();
        let sql = checksum::checksum_sql(&t.schema, &t.name, &common);
        let (s, d) = tokio::try_join!(
            async {
                checksum::table_sum(source, &sql)
                    .await
                    .context("on the source")
            },
            async {
                checksum::table_sum(target, &sql)
                    .await
                    .context("on the target")
            },
        )?;
        let status = if !same_columns {
            Status::ColumnsDiffer
        } else if s.rows != d.rows {
            Status::RowCountDiffers
        } else if s.checksum != d.checksum {
            Status::ChecksumDiffers
        } else {
            Status::Equal
        };
        Ok(TableCheck {
            table: t.label(),
            schema: t.schema.clone(),
            name: t.name.clone(),
            source: s,
            target: Some(d),
            status,
        })
    }
}

async fn compare_sequences(
    sequences: &[crate::catalog::Sequence],
    target: &Client,
) -> Result<Vec<SequenceCheck>> {
    let on_target = checksum::sequence_values(target)
        .await
        .context("on the target")?;
    let mut checks: Vec<SequenceCheck> = sequences
        .iter()
        .map(|s| {
            let source = SequenceValue {
                last_value: s.last_value,
                is_called: s.is_called,
            };
            let target = on_target.get(&(s.schema.clone(), s.name.clone())).map(
                |&(last_value, is_called)| SequenceValue {
                    last_value,
                    is_called,
                },
            );
            let status = match target {
                None => Status::MissingOnTarget,
                Some(t) if t == source => Status::Equal,
                Some(_) => Status::ValueDiffers,
            };
            SequenceCheck {
                sequence: format!("{}.{}", s.schema, s.name),
                source,
                target,
                status,
            }
        })
        .collect();
    checks.sort_by(|a, b| a.sequence.cmp(&b.sequence));
    Ok(checks)
}

async fn compare_large_objects(source: &Client, target: &Client) -> Result<LargeObjectCheck> {
    let (s, t) = tokio::try_join!(
        async {
            checksum::large_object_digests(source)
                .await
                .context("on the source")
        },
        async {
            checksum::large_object_digests(target)
                .await
                .context("on the target")
        },
    )?;
    let mut differing: Vec<u32> = s
        .iter()
        .filter(|(oid, digest)| t.get(oid) != Some(digest))
        .map(|(oid, _)| *oid)
        .chain(t.keys().filter(|oid| !s.contains_key(oid)).copied())
        .collect();
    differing.sort_unstable();
    let status = if !differing.is_empty() {
        Status::ChecksumDiffers
    } else {
        Status::Equal
    };
    Ok(LargeObjectCheck {
        source_count: s.len(),
        target_count: t.len(),
        source_checksum: checksum::large_objects_checksum(&s),
        target_checksum: checksum::large_objects_checksum(&t),
        differing,
        status,
    })
}
