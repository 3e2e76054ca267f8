//! `compare data --all-databases`: the data comparison of every database
//! `clone --all-databases` copies, one after the other, in one report.

use anyhow::Result;
use serde::Serialize;

use super::databases::{list_source, target_databases};
use crate::compare::{compare_data, DataReport};
use crate::connections::{connect, Endpoints, Side};
use crate::sql::quote_ident;

#[derive(Debug, Serialize)]
pub struct DatabaseComparison {
    pub database: String,
    /// `None` when the target has no such database.
    pub report: Option<DataReport>,
}

#[derive(Debug, Serialize)]
pub struct InstanceComparison {
    pub databases: Vec<DatabaseComparison>,
}

impl InstanceComparison {
    /// Objects compared; a database missing on the target counts as one.
    pub fn compared(&self) -> usize {
        self.databases
            .iter()
            .map(|d| d.report.as_ref().map_or(1, DataReport::compared))
            .sum()
    }
    pub fn differences(&self) -> usize {
        self.databases
            .iter()
            .map(|d| d.report.as_ref().map_or(1, DataReport::differences))
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

/// Compare every database of the source (as `clone --all-databases` picks
/// them) with the target database of the same name.
pub async fn compare_all_data(endpoints: &Endpoints, jobs: usize) -> Result<InstanceComparison> {
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
            Some(compare_data(&each, None, jobs, &crate::filters::Filters::default()).await?)
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
