//! The final summary: one line per step with its duration, and one line per
//! table with rows, bytes, copy and index time. Printed, and saved as JSON.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use crate::report::size::{pg_size_pretty, transmit_rate};
use serde::{Deserialize, Serialize};

use super::build_timings::{lenient, BuildTiming, Builds};
use super::markdown;
use crate::error::{Error, Side};

/// A step as the original pgcopydb's summary.json has it (`label`, `conn`,
/// `duration` in ms, `duration_pretty`, `concurrency`), besides our `step`
/// and `seconds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub step: String,
    pub seconds: f64,
    #[serde(default)]
    pub label: String,
    /// Which servers the step works on: `source`, `target` or `both`.
    #[serde(default)]
    pub conn: String,
    #[serde(default)]
    pub duration: u64,
    #[serde(default)]
    pub duration_pretty: String,
    #[serde(default)]
    pub concurrency: usize,
}

/// The jobs of the run, the original's `setup` object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct RunSetup {
    #[serde(rename = "table-jobs")]
    pub table_jobs: usize,
    #[serde(rename = "index-jobs")]
    pub index_jobs: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TableReport {
    /// `schema.name`.
    pub table: String,
    #[serde(default)]
    pub oid: u32,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// How many parts its copy was split into (1: whole).
    #[serde(default)]
    pub parts: usize,
    pub copy_seconds: f64,
    /// How many indexes the copy builds (`index.count` in the JSON too).
    #[serde(rename = "index_count", default)]
    pub indexes: usize,
    pub index_seconds: f64,
    /// The original's `indexes` and `constraints` arrays, as a saved
    /// summary has them (written from `builds` when that is set).
    #[serde(
        rename = "indexes",
        default,
        deserialize_with = "lenient",
        skip_serializing
    )]
    pub index_builds: Vec<BuildTiming>,
    #[serde(
        rename = "constraints",
        default,
        deserialize_with = "lenient",
        skip_serializing
    )]
    pub constraint_builds: Vec<BuildTiming>,
    /// This run's index and constraint timings, made when written.
    #[serde(skip)]
    pub builds: Option<Builds>,
    pub binary: bool,
    /// Its rows were copied by this run (their counts checked on both sides).
    #[serde(default)]
    pub copied: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Summary {
    #[serde(default)]
    pub setup: RunSetup,
    pub source: String,
    pub target: String,
    pub snapshot: Option<String>,
    pub steps: Vec<StepReport>,
    #[serde(serialize_with = "tables_with_original_keys")]
    pub tables: Vec<TableReport>,
    pub sequences: usize,
    pub large_objects: usize,
    /// Each failed unit, with its kind and side: they make the exit code.
    pub failures: Vec<Error>,
    pub total_seconds: f64,
    /// Copies that failed because the source's and the target's COPY row
    /// counts differed.
    #[serde(default)]
    pub count_mismatches: usize,
    /// `--verify` compared the content of both sides and found them equal.
    #[serde(default)]
    pub verified: bool,
    /// Where the data phase's time went, per kind of work (summed over
    /// connections).
    #[serde(default)]
    pub costs: Vec<crate::report::costs::CostReport>,
    /// The clone's own peak resident memory (not its pg_dump's nor its
    /// pg_restore's), in kB, when the summary was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
}

impl Summary {
    pub fn step(&mut self, step: &str, duration: Duration) {
        let (conn, concurrency) = step_connections(step, self.setup);
        self.steps.push(StepReport {
            step: step.to_string(),
            seconds: duration.as_secs_f64(),
            label: step.to_string(),
            conn: conn.to_string(),
            duration: duration.as_millis() as u64,
            duration_pretty: seconds(duration.as_secs_f64()),
            concurrency,
        });
    }

    /// The JSON of `summary.json` and `list progress --summary --json`: ours,
    /// with the original's keys beside (each table's `network` and `index`
    /// objects, `duration` in ms).
    pub fn to_json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self)?)
    }

    /// Saved 0600, replacing (never following) whatever is at `path`.
    /// Written as it is serialized: the JSON of ten thousand tables is
    /// several times the size of their reports.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        crate::workdir::private::write_private_file_with(path, |out| {
            serde_json::to_writer_pretty(out, self).map_err(std::io::Error::from)
        })
    }

    /// The human-readable summary, for stdout.
    pub fn render(&self) -> String {
        let copied_bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
        // The original's columns, in its order.
        let steps_header = ["Step", "Connection", "Duration", "Transfer", "Concurrency"];
        let mut steps: Vec<Vec<String>> = (self.steps.iter())
            .map(|s| {
                let transfer = if s.step.starts_with("copy") && copied_bytes > 0 {
                    pg_size_pretty(copied_bytes)
                } else {
                    String::new()
                };
                vec![
                    s.step.clone(),
                    s.conn.clone(),
                    seconds(s.seconds),
                    transfer,
                    s.concurrency.to_string(),
                ]
            })
            .collect();
        steps.push(vec![
            "Total".to_string(),
            "both".to_string(),
            seconds(self.total_seconds),
            String::new(),
            String::new(),
        ]);
        let steps = markdown::render(&steps_header, &[2, 3, 4], &steps, Vec::clone);

        // The original's columns first, in its order, then ours.
        let tables_header = [
            "OID",
            "Schema",
            "Name",
            "Parts",
            "copy duration",
            "transmitted bytes",
            "indexes",
            "create index duration",
            "Rows",
        ];
        let tables = markdown::render(&tables_header, &[0, 3, 4, 5, 6, 7, 8], &self.tables, |t| {
            vec![
                t.oid.to_string(),
                t.schema.clone(),
                t.name.clone(),
                t.parts.max(1).to_string(),
                seconds(t.copy_seconds),
                pg_size_pretty(t.bytes),
                t.indexes.to_string(),
                seconds(t.index_seconds),
                t.rows.to_string(),
            ]
        });
        let rows: u64 = self.tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let mut out = format!("{steps}\n\n");
        if !self.costs.is_empty() {
            let header = [
                "Data phase work (summed over connections)",
                "Count",
                "Time",
                "Each",
            ];
            let costs = markdown::render(&header, &[1, 2, 3], &self.costs, |c| {
                let each = c.seconds * 1000.0 / c.count.max(1) as f64;
                vec![
                    c.work.clone(),
                    c.count.to_string(),
                    seconds(c.seconds),
                    format!("{each:.2} ms"),
                ]
            });
            out.push_str(&format!("{costs}\n\n"));
        }
        out.push_str(&format!("{tables}\n\n"));
        out.push_str(&format!(
            "{} tables, {rows} rows, {} copied; {} sequences, {} large objects; {} in total\n",
            self.tables.len(),
            pg_size_pretty(bytes),
            self.sequences,
            self.large_objects,
            seconds(self.total_seconds)
        ));
        if let Some(line) = self.counts_line(rows) {
            out.push_str(&line);
            out.push('\n');
        }
        for f in &self.failures {
            out.push_str(&format!("FAILED {}: {f}\n", failure_class(f)));
        }
        out
    }

    /// What the row-count guard of the copies (see [`crate::copy::counts`])
    /// and `--verify` established, when this run copied tables.
    fn counts_line(&self, rows: u64) -> Option<String> {
        let copied = self.tables.iter().filter(|t| t.copied).count();
        if copied == 0 && self.count_mismatches == 0 {
            return None;
        }
        let counts = match self.count_mismatches {
            0 => format!("source and target COPY row counts matched for every table ({copied})"),
            n => format!("source and target COPY row counts differed for {n} table(s) or part(s), see FAILED below"),
        };
        let content = if self.verified {
            "content verified equal by --verify"
        } else {
            "content not compared: --verify does that"
        };
        Some(format!("rows: {rows} copied, {counts}; {content}"))
    }
}

/// A table as `summary.json` has it: its report, with the original's keys
/// beside.
#[derive(Serialize)]
struct TableJson<'a> {
    #[serde(flatten)]
    report: &'a TableReport,
    /// Copy time, in ms.
    duration: u64,
    network: NetworkJson,
    index: IndexJson,
    indexes: Cow<'a, [BuildTiming]>,
    constraints: Cow<'a, [BuildTiming]>,
}

#[derive(Serialize)]
struct NetworkJson {
    bytes: u64,
    #[serde(rename = "bytes-pretty")]
    bytes_pretty: String,
    #[serde(rename = "transmit-rate")]
    transmit_rate: String,
}

#[derive(Serialize)]
struct IndexJson {
    count: usize,
    /// In ms.
    duration: u64,
}

impl<'a> From<&'a TableReport> for TableJson<'a> {
    fn from(t: &'a TableReport) -> Self {
        let (indexes, constraints) = match &t.builds {
            Some(builds) => {
                let (indexes, constraints) = builds.timings();
                (Cow::Owned(indexes), Cow::Owned(constraints))
            }
            None => (
                Cow::Borrowed(t.index_builds.as_slice()),
                Cow::Borrowed(t.constraint_builds.as_slice()),
            ),
        };
        TableJson {
            report: t,
            duration: (t.copy_seconds * 1000.0) as u64,
            network: NetworkJson {
                bytes: t.bytes,
                bytes_pretty: pg_size_pretty(t.bytes),
                transmit_rate: transmit_rate(t.bytes, t.copy_seconds),
            },
            index: IndexJson {
                count: t.indexes,
                duration: (t.index_seconds * 1000.0) as u64,
            },
            indexes,
            constraints,
        }
    }
}

/// The tables one at a time, each with the original's keys.
fn tables_with_original_keys<S: serde::Serializer>(
    tables: &[TableReport],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(tables.iter().map(TableJson::from))
}

/// The servers a step of the clone works on, and how many sessions it runs
/// at once, as the original's summary reports them.
fn step_connections(step: &str, setup: RunSetup) -> (&'static str, usize) {
    match step {
        s if s.contains("dump") => ("source", 1),
        s if s.starts_with("copy") || s.contains("verification") => {
            ("both", setup.table_jobs.max(1))
        }
        s if s.starts_with("indexes") => ("target", setup.index_jobs.max(1)),
        s if s.contains("large objects") || s.contains("sequences") => ("both", 1),
        _ => ("target", 1),
    }
}

/// "(target, rejected)": where a failure happened and what it was.
pub(crate) fn failure_class(f: &Error) -> String {
    match f.side {
        Side::Local => format!("({})", f.kind),
        side => format!("({side}, {})", f.kind),
    }
}

pub(crate) fn seconds(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:04.1}s", (s / 60.0).floor(), s % 60.0)
    } else if s >= 1.0 {
        format!("{s:.1}s")
    } else {
        format!("{:.0}ms", s * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(rows: u64) -> TableReport {
        TableReport {
            table: "public.t".into(),
            rows,
            copied: true,
            ..TableReport::default()
        }
    }

    /// Scripts that read the printed summary find the original's columns,
    /// in its order, at the start of each table.
    #[test]
    fn the_printed_tables_start_with_the_original_columns() {
        let mut s = Summary::default();
        s.step("copy the data", Duration::from_millis(1500));
        s.tables.push(TableReport {
            oid: 16398,
            schema: "public".into(),
            name: "accounts".into(),
            parts: 2,
            ..copied(10)
        });
        let text = s.render();
        let header = |first: &str| {
            text.lines()
                .find(|l| l.contains(first))
                .map(|l| {
                    l.split('|')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert_eq!(
            header("Step")[..5],
            ["Step", "Connection", "Duration", "Transfer", "Concurrency"],
            "{text}"
        );
        assert_eq!(
            header("OID")[..8],
            [
                "OID",
                "Schema",
                "Name",
                "Parts",
                "copy duration",
                "transmitted bytes",
                "indexes",
                "create index duration"
            ],
            "{text}"
        );
        assert!(text.contains("| 16398 | public | accounts |"), "{text}");
    }

    #[test]
    fn a_saved_summary_reads_back_with_its_index_timings() {
        let build = BuildTiming {
            oid: 7,
            schema: "public".into(),
            name: "t_pkey".into(),
            sql: "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)".into(),
            ms: 12,
        };
        let saved = Summary {
            tables: vec![TableReport {
                indexes: 1,
                index_builds: vec![build.clone()],
                ..copied(3)
            }],
            ..Summary::default()
        };
        let doc = saved.to_json().unwrap_or_default();
        let read: Summary = serde_json::from_value(doc.clone()).unwrap_or_default();
        assert_eq!(read.tables.first().map(|t| t.indexes), Some(1), "{doc}");
        assert_eq!(
            read.tables.first().map(|t| t.index_builds.clone()),
            Some(vec![build])
        );
        // A summary written before, where `indexes` was the count.
        let mut older = doc;
        if let Some(t) = older
            .pointer_mut("/tables/0")
            .and_then(|t| t.as_object_mut())
        {
            t.remove("index_count");
            t.insert("indexes".into(), 1.into());
        }
        let read: Summary = serde_json::from_value(older.clone()).unwrap_or_default();
        assert_eq!(read.tables.len(), 1, "{older}");
        assert!(read.tables[0].index_builds.is_empty(), "{older}");
    }

    #[test]
    fn the_counts_line_says_what_was_checked() {
        let mut s = Summary {
            tables: vec![copied(7), copied(3)],
            ..Summary::default()
        };
        assert!(s.render().contains(
            "rows: 10 copied, source and target COPY row counts matched for every table (2); \
             content not compared: --verify does that"
        ));
        s.verified = true;
        assert!(s.render().contains("content verified equal by --verify"));
        s.count_mismatches = 1;
        assert!(s.render().contains("differed for 1 table(s) or part(s)"));
        // Nothing copied (e.g. `copy indexes`): nothing to say.
        let none = Summary {
            tables: vec![TableReport::default()],
            ..Summary::default()
        };
        assert!(!none.render().contains("rows: "));
    }
}
