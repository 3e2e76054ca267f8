//! Options of `clone` / `fork` / `copy db`, with their `PGCOPYDB_*` mirrors.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::Args;

/// `--source` and `--target`, shared by every command that talks to both servers.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Source database connection string (libpq URI or key=value)
    #[arg(
        short = 'S',
        long,
        env = "PGCOPYDB_SOURCE_PGURI",
        hide_env_values = true
    )]
    pub source: Option<String>,
    /// Target database connection string (libpq URI or key=value)
    #[arg(
        short = 'T',
        long,
        env = "PGCOPYDB_TARGET_PGURI",
        hide_env_values = true
    )]
    pub target: Option<String>,
}

/// Log verbosity, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// More output (repeat for more: our debug messages, then everyone's, then trace)
    #[arg(short, long, visible_alias = "notice", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Debug output
    #[arg(short, long, global = true)]
    pub debug: bool,
    /// Trace output, the most verbose (includes the SQL text of the queries)
    #[arg(short = 'z', long, global = true)]
    pub trace: bool,
    /// Only warnings and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// `--estimate-table-sizes`, shared by the copy commands and by `list tables`
/// and `list table-parts`.
#[derive(Debug, Clone, Args)]
pub struct EstimateSizesArg {
    /// Size tables (heap plus TOAST) by the catalog estimate relpages * block_size
    /// instead of pg_table_size(). The source is not analyzed first (unlike the
    /// original pgcopydb: we never write to the source), so the estimate is as
    /// fresh as the last VACUUM or ANALYZE, and a table never vacuumed nor
    /// analyzed counts as empty (relpages = 0): it sorts last and is never split
    #[arg(short = 'm', long, env = "PGCOPYDB_ESTIMATE_TABLE_SIZES", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub estimate_table_sizes: bool,
}

impl EstimateSizesArg {
    pub fn table_sizes(&self) -> crate::catalog::TableSizes {
        crate::catalog::TableSizes::new(self.estimate_table_sizes)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CloneArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,

    /// Work directory
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,

    /// Number of concurrent COPY jobs
    #[arg(short = 'J', long, visible_alias = "jobs", env = "PGCOPYDB_TABLE_JOBS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub table_jobs: u32,

    /// Number of concurrent CREATE INDEX jobs
    #[arg(short = 'I', long, env = "PGCOPYDB_INDEX_JOBS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub index_jobs: u32,

    /// Number of concurrent jobs for pg_restore (default: --index-jobs)
    #[arg(short = 'j', long, env = "PGCOPYDB_RESTORE_JOBS",
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub restore_jobs: Option<u32>,

    /// Number of concurrent large-object jobs
    #[arg(short = 'b', long, env = "PGCOPYDB_LARGE_OBJECTS_JOBS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub large_objects_jobs: u32,

    /// Copy tables of at least this size in concurrent parts (e.g. 1GB; 0 = off)
    #[arg(short = 'L', long, visible_alias = "split-at", env = "PGCOPYDB_SPLIT_TABLES_LARGER_THAN",
          value_parser = parse_size_arg, default_value = "0")]
    pub split_tables_larger_than: u64,

    /// At most this many parts per split table (0 = no limit)
    #[arg(
        short = 'u',
        long,
        env = "PGCOPYDB_SPLIT_MAX_PARTS",
        default_value_t = 0
    )]
    pub split_max_parts: u32,

    #[command(flatten)]
    pub sizes: EstimateSizesArg,

    /// Accepted for compatibility; changes nothing: the original runs
    /// `vacuumdb --analyze-only` on the source for --estimate-table-sizes,
    /// we never analyze (nor otherwise write to) the source
    #[arg(short = 'a', long, env = "PGCOPYDB_SKIP_ANALYZE", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub skip_analyze: bool,

    /// Split only on an integer unique key, never by ctid page ranges
    #[arg(short = 'k', long, env = "PGCOPYDB_SKIP_CTID_SPLIT", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub skip_split_by_ctid: bool,

    /// Drop the target tables (and pg_restore --clean --if-exists) before restoring
    #[arg(short = 'c', long, env = "PGCOPYDB_DROP_IF_EXISTS", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub drop_if_exists: bool,

    /// With --drop-if-exists: also drop the target's own objects that depend on the
    /// replaced tables (views, foreign keys, ... the source does not have); without it,
    /// such a drop is refused with their list
    #[arg(long, env = "PGCOPYDB_DROP_CASCADE", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub drop_cascade: bool,

    /// Do not restore object ownership (pg_restore --no-owner)
    #[arg(short = 'O', long)]
    pub no_owner: bool,
    /// Do not restore privileges (pg_restore --no-acl)
    #[arg(short = 'x', long)]
    pub no_acl: bool,
    /// Do not restore comments (pg_restore --no-comments)
    #[arg(short = 'X', long)]
    pub no_comments: bool,
    /// Do not restore tablespace assignments (pg_restore --no-tablespaces)
    #[arg(short = 'y', long, env = "PGCOPYDB_SKIP_TABLESPACES", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub no_tablespaces: bool,

    /// INI file of schemas, tables, table data, indexes and extensions to leave out
    /// (sections include-only-schema, exclude-schema, include-only-table, exclude-table,
    /// exclude-table-data, exclude-index, include-only-extension, exclude-extension)
    #[arg(short = 'F', long, visible_alias = "filter", value_name = "FILE")]
    pub filters: Option<PathBuf>,

    /// Do not copy large objects
    #[arg(short = 'B', long, visible_alias = "skip-blobs")]
    pub skip_large_objects: bool,

    /// Copy the roles (pg_dumpall --roles-only) before the schema, skipping existing ones
    #[arg(short = 'A', long)]
    pub roles: bool,

    /// With --roles: do not copy role passwords (automatic when the source cannot read them)
    #[arg(short = 'P', long)]
    pub no_role_passwords: bool,

    /// Do not create extensions nor copy their configuration rows, and leave alone the
    /// schemas extensions live in on the target (for a non-superuser after `copy extensions`);
    /// implies --skip-ext-comments
    #[arg(short = 'e', long)]
    pub skip_extensions: bool,

    /// Do not restore COMMENT ON EXTENSION (only the extension's owner may set it)
    #[arg(short = 'M', long, visible_alias = "skip-ext-comment")]
    pub skip_ext_comments: bool,

    /// Do not restore collations: they must already exist on the target
    #[arg(short = 'l', long)]
    pub skip_collations: bool,

    /// Do not VACUUM ANALYZE the target tables
    #[arg(short = 'U', long, env = "PGCOPYDB_SKIP_VACUUM", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub skip_vacuum: bool,

    /// Do not copy ALTER DATABASE ... SET and ALTER ROLE ... IN DATABASE ... SET
    #[arg(short = 'g', long, env = "PGCOPYDB_SKIP_DB_PROPERTIES", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub skip_db_properties: bool,

    /// Use COPY in binary format for every table where it is safe
    #[arg(short = 'n', long, env = "PGCOPYDB_USE_COPY_BINARY", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub use_copy_binary: bool,

    /// COPY format: `auto` uses binary for tables whose types allow it when both
    /// servers share the major version, `text` never, `binary` wherever safe
    #[arg(long, env = "PGCOPYDB_COPY_FORMAT", value_enum, default_value = "auto")]
    pub copy_format: CopyFormatArg,

    /// Use this already exported snapshot instead of exporting one
    #[arg(short = 'N', long, env = "PGCOPYDB_SNAPSHOT")]
    pub snapshot: Option<String>,

    /// Do not use a single snapshot: every reader sees its own view of the source
    #[arg(short = 'C', long)]
    pub not_consistent: bool,

    /// Stop at the first failure
    #[arg(short = 'i', long, env = "PGCOPYDB_FAIL_FAST", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub fail_fast: bool,

    /// After the copy, compare every table's rows, the sequences and the large
    /// objects of source (under the copy's snapshot) and target; fail if any differ
    #[arg(long, env = "PGCOPYDB_VERIFY", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub verify: bool,

    /// Serve the run's progress at http://HOST:PORT/metrics in the Prometheus
    /// text format while it runs (off unless given)
    #[arg(long, value_name = "HOST:PORT", env = "PGCOPYDB_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// After the copy, apply the changes made on the source since its snapshot
    /// (logical decoding from a slot created with the copy's snapshot) until endpos
    #[arg(long, conflicts_with = "all_databases")]
    pub follow: bool,

    #[command(flatten)]
    pub cdc: Box<super::cdc_args::CdcArgs>,

    /// Copy every database of the source instance (roles once, then each
    /// non-template database, one work directory per database under --dir)
    #[arg(long, conflicts_with = "snapshot")]
    pub all_databases: bool,

    /// Remove the work directory's contents and start from scratch
    #[arg(short = 'r', long, conflicts_with = "resume")]
    pub restart: bool,

    /// Resume an interrupted run from its work directory
    #[arg(short = 'R', long)]
    pub resume: bool,

    /// JSON file of extension versions to create instead of the source's
    /// (`[{"name": ..., "version": ...}]`, as `list extensions --requirements --json` writes)
    #[arg(short = 'Q', long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyFormatArg {
    Auto,
    Text,
    Binary,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::catalog::parts::parse_size(s)
}
