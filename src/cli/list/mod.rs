//! `pgcopydb list ...`: what the source holds and what a copy of it would
//! do (read from the source catalogs), and what a run did (`progress`).
//!
//! Source listings run in one REPEATABLE READ READ ONLY transaction, so that
//! every number in one listing comes from the same view of the source.

mod progress;
mod progress_json;
mod progress_text;
mod relations;
mod render;
mod schema_json;
mod server;

use std::path::PathBuf;

use anyhow::Result;
use tokio_postgres::Client;

use crate::catalog::listing::{Everything, ListScope};
use crate::catalog::parts::parse_size;
use crate::cli::{EstimateSizesArg, LogArgs};
use crate::connections::{resolve, Side};
use crate::filters::{FilterScope, Filters};

#[derive(Debug, clap::Subcommand)]
pub enum ListCommand {
    /// Databases of the source instance (templates left out)
    Databases(SourceArgs),
    /// Extensions installed on the source, or with --available-versions the ones it could install
    Extensions(ExtensionsArgs),
    /// Collations the copy needs: user-defined ones and those columns, indexes and domains use
    Collations(SourceArgs),
    /// Tables the copy reads, with size, estimated rows and whether they have a primary key
    Tables(TablesArgs),
    /// How --split-tables-larger-than would cut each large table into parts
    TableParts(TablePartsArgs),
    /// Sequences whose values the copy sets on the target
    Sequences(SequencesArgs),
    /// Indexes the copy builds on the target, per table
    Indexes(IndexesArgs),
    /// For each table, the objects that depend on it (owned sequences, views, foreign keys,
    /// triggers, policies)
    Depends(DependsArgs),
    /// The whole source catalog as pgcopydb sees it, as JSON
    Schema(SchemaArgs),
    /// Progress of a running or finished run, from its work directory
    Progress(progress::ProgressArgs),
}

/// Options of every listing that reads the source.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Source database connection string (libpq URI or key=value)
    #[arg(
        short = 'S',
        long,
        env = "PGCOPYDB_SOURCE_PGURI",
        hide_env_values = true
    )]
    source: Option<String>,
    /// Read the source under this exported snapshot (from `pgcopydb snapshot`)
    #[arg(short = 'N', long, env = "PGCOPYDB_SNAPSHOT")]
    snapshot: Option<String>,
    /// Print JSON instead of a table
    #[arg(short = 'J', long)]
    json: bool,
    /// Show only what a run with this filters file would copy (INI, as for clone)
    #[arg(short = 'F', long, visible_alias = "filter", value_name = "FILE")]
    filters: Option<PathBuf>,
    /// Accepted for compatibility; no effect: the original reads its catalog cache there,
    /// we keep none and always read the source
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
}

impl SourceArgs {
    /// Set up logging and open the read-only source transaction. A bad
    /// filters file fails here, before anything is read.
    async fn open(&self) -> Result<Client> {
        crate::report::logging::init(self.log.level());
        if let Some(path) = &self.filters {
            Filters::load(path)?;
        }
        let source = resolve(Side::Source, self.source.as_deref())?;
        crate::snapshot::open_reader(&source, self.snapshot.as_deref()).await
    }

    /// What the listing shows: everything, or what `--filters` keeps,
    /// resolved on the source in the listing's transaction.
    async fn scope(&self, client: &Client) -> Result<Box<dyn ListScope>> {
        let Some(path) = &self.filters else {
            return Ok(Box::new(Everything));
        };
        let filters = Filters::load(path)?;
        let selection = crate::filters::resolve(&filters, client).await?;
        Ok(Box::new(FilterScope::new(filters, &selection)))
    }
}

/// `list schema`: the original's cache options, accepted so that its scripts
/// run; the listing always reads the source in one transaction.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// Accepted for compatibility; no effect: there is no catalog cache to refresh
    #[arg(short = 'f', long)]
    force: bool,
    /// Accepted for compatibility; no effect: the listing is one consistent transaction
    #[arg(short = 'I', long)]
    not_consistent: bool,
    /// List the parts of each table at least this large, as `list table-parts` plans them
    #[arg(
        short = 'L',
        long,
        visible_alias = "split-tables-larger-than",
        value_name = "SIZE"
    )]
    split_at: Option<String>,
    #[command(flatten)]
    max_parts: SplitMaxPartsArg,
    #[command(flatten)]
    ctid: SkipCtidArg,
}

#[derive(Debug, clap::Args)]
pub struct ExtensionsArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// List every extension the source server could install, with all its versions
    #[arg(short = 'a', long)]
    available_versions: bool,
    /// The extensions the server can install with their default version, as the
    /// `--requirements FILE` of clone and copy extensions reads them (with --json:
    /// `[{"name": ..., "version": ...}]`); run it against the target to start one
    #[arg(short = 'r', long, conflicts_with = "available_versions")]
    requirements: bool,
}

#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// List what the copy skips instead, and why: extension tables, partitioned parents
    /// (their partitions are copied), foreign tables, materialized views (refreshed, not
    /// copied), tables excluded by --filters
    #[arg(short = 'x', long)]
    list_skipped: bool,
    /// Only tables without a primary key
    #[arg(short = 'P', long)]
    without_pkey: bool,
    #[command(flatten)]
    sizes: EstimateSizesArg,
    /// Accepted for compatibility; changes nothing: the original refreshes its catalog
    /// cache, we keep none and always read the source
    #[arg(short = 'f', long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct TablePartsArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    names: TableNameArgs,
    #[command(flatten)]
    sizes: EstimateSizesArg,
    /// Split tables at least this large (heap plus TOAST), e.g. 10GB, 500 MB, 64kB
    #[arg(short = 'L', long, visible_alias = "split-at", env = "PGCOPYDB_SPLIT_TABLES_LARGER_THAN",
          value_name = "SIZE", value_parser = parse_size, required = true)]
    split_tables_larger_than: u64,
    #[command(flatten)]
    max_parts: SplitMaxPartsArg,
    #[command(flatten)]
    ctid: SkipCtidArg,
}

/// `--split-max-parts` / `PGCOPYDB_SPLIT_MAX_PARTS`, read by every listing
/// that plans parts.
#[derive(Debug, clap::Args)]
pub struct SplitMaxPartsArg {
    /// At most this many parts per table (0: no limit)
    #[arg(
        short = 'u',
        long,
        env = "PGCOPYDB_SPLIT_MAX_PARTS",
        value_name = "N",
        default_value_t = 0
    )]
    split_max_parts: u32,
}

/// `--skip-split-by-ctid` / `PGCOPYDB_SKIP_CTID_SPLIT`, read by every
/// listing that plans parts, so that it shows the parts `clone` copies.
#[derive(Debug, clap::Args)]
pub struct SkipCtidArg {
    /// Split only on an integer key; never fall back to ranges of pages (ctid)
    #[arg(long, env = "PGCOPYDB_SKIP_CTID_SPLIT", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    skip_split_by_ctid: bool,
}

/// `--schema-name` / `--table-name`: only the tables so named (the
/// original's way to point a listing at one table).
#[derive(Debug, clap::Args)]
pub struct TableNameArgs {
    /// Only tables in this schema
    #[arg(short = 's', long, value_name = "SCHEMA")]
    schema_name: Option<String>,
    /// Only tables of this name
    #[arg(short = 't', long, value_name = "NAME")]
    table_name: Option<String>,
}

impl TableNameArgs {
    /// Whether the table `schema`.`name` is one the options name.
    fn keeps(&self, schema: &str, name: &str) -> bool {
        self.schema_name.as_deref().is_none_or(|s| s == schema)
            && self.table_name.as_deref().is_none_or(|t| t == name)
    }
}

/// `--list-skipped` of `list sequences`, `indexes` and `depends`.
#[derive(Debug, clap::Args)]
pub struct SkippedArg {
    /// List what --filters leaves out instead of what the copy takes (nothing
    /// without --filters)
    #[arg(short = 'x', long)]
    list_skipped: bool,
}

#[derive(Debug, clap::Args)]
pub struct SequencesArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    skipped: SkippedArg,
}

#[derive(Debug, clap::Args)]
pub struct DependsArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    names: TableNameArgs,
    #[command(flatten)]
    skipped: SkippedArg,
}

#[derive(Debug, clap::Args)]
pub struct IndexesArgs {
    #[command(flatten)]
    src: SourceArgs,
    #[command(flatten)]
    names: TableNameArgs,
    #[command(flatten)]
    skipped: SkippedArg,
    /// Only the indexes of this table (schema.name, or a name found in any schema)
    #[arg(long, value_name = "SCHEMA.NAME")]
    table: Option<String>,
}

pub async fn run(cmd: ListCommand) -> Result<()> {
    match cmd {
        ListCommand::Databases(a) => server::databases(a).await,
        ListCommand::Extensions(a) => server::extensions(a).await,
        ListCommand::Collations(a) => server::collations(a).await,
        ListCommand::Tables(a) => relations::tables(a).await,
        ListCommand::TableParts(a) => relations::table_parts(a).await,
        ListCommand::Sequences(a) => relations::sequences(a).await,
        ListCommand::Indexes(a) => relations::indexes(a).await,
        ListCommand::Depends(a) => relations::depends(a).await,
        ListCommand::Schema(a) => server::schema(a).await,
        ListCommand::Progress(a) => progress::run(a),
    }
}
