//! `compare data --all-databases` and `compare schema --all-databases`: the
//! comparison of every database `clone --all-databases` copies, one after
//! the other, in one report.

use anyhow::Result;
use serde::Serialize;

use super::databases::{list_source, target_databases};
use crate::compare::{compare_data, compare_schema, DataReport, SchemaOptions, SchemaReport};
use crate::connections::{connect, Endpoints, Side};
use crate::sql::quote_ident;

/// What the instance report needs of one database's report.
pub trait DatabaseReport: Serialize {
    fn compared(&self) -> usize;
    fn differences(&self) -> usize;
    fn render(&self) -> String;
}

impl DatabaseReport for DataReport {
    fn compared(&self) -> usize {
        DataReport::compared(self)
    }
    fn differences(&self) -> usize {
        DataReport::differences(self)
    }
    fn render(&self) -> String {
        DataReport::render(self)
    }
}

impl DatabaseReport for SchemaReport {
    fn compared(&self) -> usize {
        SchemaReport::compared(self)
    }
    fn differences(&self) -> usize {
        self.differing_objects()
    }
    fn render(&self) -> String {
        SchemaReport::render(self)
    }
}

#[derive(Debug, Serialize)]
pub struct DatabaseComparison<R> {
    pub database: String,
    /// `None` when the target has no such database.
    pub report: Option<R>,
}

#[derive(Debug, Serialize)]
pub struct InstanceComparison<R> {
    pub databases: Vec<DatabaseComparison<R>>,
}

impl<R: DatabaseReport> InstanceComparison<R> {
    /// Objects compared; a database missing on the target counts as one.
    pub fn compared(&self) -> usize {
        self.databases
            .iter()
            .map(|d| d.report.as_ref().map_or(1, R::compared))
            .sum()
    }
    pub fn differences(&self) -> usize {
        self.databases
            .iter()
            .map(|d| d.report.as_ref().map_or(1, R::differences))
            .sum()
    }
    pub fn is_equal(&self) -> bool {
        self.differences() == 0
    }
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.databases {
            out.push_str(&format!("database {}\n", quote_ident(&d.database)));
            match &d.report {
                Some(r) => out.push_str(&r.render()),
                None => out.push_str("missing on the target\n"),
            }
            out.push('\n');
        }
        out
    }
}

impl InstanceComparison<DataReport> {
    /// What `compare data --all-databases --json` prints: as the original,
    /// one array of the tables of every database (each item of
    /// [`DataReport::to_original_json`] with its `database`); a database
    /// missing on the target is an item of kind `database`.
    pub fn to_original_json(&self) -> anyhow::Result<String> {
        let mut items = Vec::new();
        for d in &self.databases {
            let Some(report) = &d.report else {
                items.push(serde_json::json!({
                    "kind": "database",
                    "database": d.database,
                    "status": "missing_on_target",
                }));
                continue;
            };
            let compared: Vec<serde_json::Value> =
                serde_json::from_str(&report.to_original_json()?)?;
            for mut item in compared {
                if let Some(object) = item.as_object_mut() {
                    object.insert("database".into(), d.database.clone().into());
                }
                items.push(item);
            }
        }
        Ok(serde_json::to_string_pretty(&items)?)
    }
}

/// Compare every database of the source (as `clone --all-databases` picks
/// them) with the target database of the same name.
pub async fn compare_all_data(
    endpoints: &Endpoints,
    jobs: usize,
) -> Result<InstanceComparison<DataReport>> {
    each_database(endpoints, |each| async move {
        compare_data(&each, None, jobs, &crate::filters::Filters::default()).await
    })
    .await
}

/// Compare the schema of every database of the source with the target
/// database of the same name.
pub async fn compare_all_schema(
    endpoints: &Endpoints,
    options: &SchemaOptions,
) -> Result<InstanceComparison<SchemaReport>> {
    each_database(endpoints, |each| async move {
        compare_schema(&each, None, options).await
    })
    .await
}

async fn each_database<R, F, Fut>(
    endpoints: &Endpoints,
    compare: F,
) -> Result<InstanceComparison<R>>
where
    F: Fn(Endpoints) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    let source = connect(Side::Source, &endpoints.source).await?;
    let target = connect(Side::Target, &endpoints.target).await?;
    let databases = list_source(&source).await?;
    let on_target = target_databases(&target).await?;
    let mut out = Vec::new();
    for db in databases {
        let report = if on_target.contains(&db.name) {
            let each = Endpoints {
                source: endpoints.source.with_dbname(&db.name),
                target: endpoints.target.with_dbname(&db.name),
            };
            Some(compare(each).await?)
        } else {
            None
        };
        out.push(DatabaseComparison {
            database: db.name,
            report,
        });
    }
    Ok(InstanceComparison { databases: out })
}
