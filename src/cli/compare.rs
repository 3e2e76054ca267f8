//! `pgcopydb compare data` and `pgcopydb compare schema`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::cli::{ConnectionArgs, LogArgs};
use crate::clone::instance::{compare_all_data, compare_all_schema};
use crate::compare::{compare_data, compare_schema, differences_failure, SchemaOptions};
use crate::connections::Endpoints;
use crate::filters::Filters;

#[derive(Debug, Subcommand)]
pub enum CompareCommand {
    /// Compare row counts and contents of every table, sequences and large objects
    Data(CompareDataArgs),
    /// Compare tables, columns, indexes, constraints, functions, triggers, owners, ACLs, ...
    Schema(CompareSchemaArgs),
}

/// Options both compares share.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    conn: ConnectionArgs,
    /// Work directory: the report is also saved there as JSON
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    dir: Option<PathBuf>,
    /// Print the report as JSON instead of a table
    #[arg(short = 'J', long)]
    json: bool,
    /// Read the source under this exported snapshot
    #[arg(short = 'N', long, env = "PGCOPYDB_SNAPSHOT")]
    snapshot: Option<String>,
    /// Compare only what a clone with this filters file copies
    #[arg(short = 'F', long, visible_alias = "filter", value_name = "FILE")]
    filters: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Args)]
pub struct CompareDataArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Number of tables summed at the same time (on each side)
    #[arg(short = 'j', long, visible_alias = "jobs", env = "PGCOPYDB_TABLE_JOBS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    table_jobs: u32,
    /// Compare every database of the source instance with the target database
    /// of the same name (the databases `clone --all-databases` copies)
    #[arg(short = 'a', long, conflicts_with = "snapshot")]
    all_databases: bool,
}

#[derive(Debug, Args)]
pub struct CompareSchemaArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Do not compare owners (for clones made with --no-owner)
    #[arg(long)]
    no_owner: bool,
    /// Do not compare privileges (for clones made with --no-acl)
    #[arg(long)]
    no_acl: bool,
    /// Accepted for compatibility; no effect: the schema is read in one catalog query per side
    #[arg(short = 'j', long, visible_alias = "table-jobs", value_name = "N")]
    jobs: Option<u32>,
    /// Compare every database of the source instance with the target database
    /// of the same name (the databases `clone --all-databases` copies)
    #[arg(short = 'a', long, conflicts_with = "snapshot")]
    all_databases: bool,
}

pub async fn run(command: CompareCommand) -> Result<()> {
    match command {
        CompareCommand::Data(args) => {
            let c = &args.common;
            let endpoints = start(c)?;
            let filters = filters(c)?;
            let jobs = args.table_jobs as usize;
            if args.all_databases {
                let report = compare_all_data(&endpoints, jobs).await?;
                save_in(c, "data", &report.to_json()?)?;
                print(c, &report.to_original_json()?, &report.render())?;
                return if report.is_equal() {
                    Ok(())
                } else {
                    Err(differences_failure("data", report.differences(), report.compared()).into())
                };
            }
            let report = compare_data(&endpoints, c.snapshot.as_deref(), jobs, &filters).await?;
            // The work directory keeps our whole report; stdout has the
            // original's array.
            save_in(c, "data", &report.to_json()?)?;
            print(c, &report.to_original_json()?, &report.render())?;
            if report.is_equal() {
                Ok(())
            } else {
                Err(differences_failure("data", report.differences(), report.compared()).into())
            }
        }
        CompareCommand::Schema(args) => {
            let c = &args.common;
            let endpoints = start(c)?;
            let options = SchemaOptions {
                no_owner: args.no_owner,
                no_acl: args.no_acl,
                filters: filters(c)?,
            };
            if args.all_databases {
                let report = compare_all_schema(&endpoints, &options).await?;
                finish(c, "schema", &report.to_json()?, &report.render())?;
                return if report.is_equal() {
                    Ok(())
                } else {
                    Err(
                        differences_failure("schema", report.differences(), report.compared())
                            .into(),
                    )
                };
            }
            let report = compare_schema(&endpoints, c.snapshot.as_deref(), &options).await?;
            finish(c, "schema", &report.to_json()?, &report.render())?;
            if report.is_equal() {
                Ok(())
            } else {
                let n = report.differing_objects();
                Err(differences_failure("schema", n, report.compared()).into())
            }
        }
    }
}

/// The `--filters` file, parsed; empty without one.
fn filters(c: &CommonArgs) -> Result<Filters> {
    Ok(match &c.filters {
        Some(path) => Filters::load(path)?,
        None => Filters::default(),
    })
}

fn start(c: &CommonArgs) -> Result<Endpoints> {
    crate::report::logging::init(c.log.level());
    Endpoints::from_args(&c.conn)
}

/// Print the report (JSON or table) and save the JSON in the work directory.
fn finish(c: &CommonArgs, what: &str, json: &str, table: &str) -> Result<()> {
    save_in(c, what, json)?;
    print(c, json, table)
}

/// With `--dir`, the report as `compare-WHAT.json` there.
fn save_in(c: &CommonArgs, what: &str, json: &str) -> Result<()> {
    match &c.dir {
        Some(dir) => save(dir, what, json),
        None => Ok(()),
    }
}

fn print(c: &CommonArgs, json: &str, table: &str) -> Result<()> {
    if c.json {
        crate::report::stdout::println(json)?;
    } else {
        crate::report::stdout::print(table)?;
    }
    Ok(())
}

fn save(dir: &Path, what: &str, json: &str) -> Result<()> {
    let path = dir.join(format!("compare-{what}.json"));
    crate::workdir::private::create_private_dir(dir)?;
    crate::workdir::private::write_private_file(&path, json.as_bytes())
}
