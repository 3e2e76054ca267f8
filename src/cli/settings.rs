//! From arguments to the engine's settings: the only place where what clap
//! parsed becomes a `CloneOptions`, an `Endpoints` or a log level, so that
//! no engine module needs to know the command line.

use anyhow::Result;

use super::{CloneArgs, ConnectionArgs, CopyFormatArg, LogArgs};
use crate::catalog::parts::SplitSettings;
use crate::clone::{CloneOptions, CopyFormatChoice, SkipOptions};
use crate::connections::Endpoints;
use crate::error::Failure;
use crate::filters::{Filters, Kind};
use crate::report::logging::LogLevel;
use crate::workdir::WorkDir;

impl LogArgs {
    /// `--quiet` wins; then the most verbose of `--trace`, `--debug` and the
    /// count of `-v`.
    pub fn level(&self) -> LogLevel {
        if self.quiet {
            LogLevel::Quiet
        } else if self.trace || self.verbose >= 3 {
            LogLevel::Trace
        } else if self.debug || self.verbose >= 2 {
            LogLevel::Debug
        } else if self.verbose == 1 {
            LogLevel::Verbose
        } else {
            LogLevel::Info
        }
    }
}

impl From<CopyFormatArg> for CopyFormatChoice {
    fn from(arg: CopyFormatArg) -> CopyFormatChoice {
        match arg {
            CopyFormatArg::Auto => CopyFormatChoice::Auto,
            CopyFormatArg::Text => CopyFormatChoice::Text,
            CopyFormatArg::Binary => CopyFormatChoice::Binary,
        }
    }
}

impl Endpoints {
    /// `--source` and `--target` (or their `PGCOPYDB_*_PGURI` variables).
    pub fn from_args(args: &ConnectionArgs) -> Result<Endpoints> {
        Endpoints::new(args.source.as_deref(), args.target.as_deref())
    }
}

impl CloneOptions {
    /// Fails (exit 2) on a filters file that cannot be read or parsed,
    /// before anything is connected to or written.
    pub fn from_args(a: &CloneArgs) -> Result<CloneOptions, Failure> {
        let filters = match &a.filters {
            Some(path) => Filters::load(path)?,
            None => Filters::default(),
        };
        if a.skip_extensions && !filters.get(Kind::IncludeOnlyExtension).is_empty() {
            return Err(Failure::config(
                "--skip-extensions cannot be combined with an [include-only-extension] filter: \
                 the one creates no extension, the other asks for some",
            ));
        }
        Ok(CloneOptions {
            dir: a.dir.clone().unwrap_or_else(WorkDir::default_path),
            table_jobs: a.table_jobs as usize,
            index_jobs: a.index_jobs as usize,
            restore_jobs: a.restore_jobs.unwrap_or(a.index_jobs) as usize,
            large_objects_jobs: a.large_objects_jobs as usize,
            split: SplitSettings {
                threshold: a.split_tables_larger_than,
                max_parts: a.split_max_parts,
            },
            table_sizes: a.sizes.table_sizes(),
            skip_split_by_ctid: a.skip_split_by_ctid,
            drop_if_exists: a.drop_if_exists,
            drop_cascade: a.drop_cascade,
            no_owner: a.no_owner,
            no_acl: a.no_acl,
            no_comments: a.no_comments,
            no_tablespaces: a.no_tablespaces,
            skip_large_objects: a.skip_large_objects,
            skip_vacuum: a.skip_vacuum,
            skip_db_properties: a.skip_db_properties,
            copy_format: if a.use_copy_binary {
                CopyFormatChoice::Binary
            } else {
                a.copy_format.into()
            },
            snapshot: a.snapshot.clone(),
            not_consistent: a.not_consistent,
            fail_fast: a.fail_fast,
            verify: a.verify,
            restart: a.restart,
            resume: a.resume,
            filters,
            limits: None,
            roles: a.roles,
            no_role_passwords: a.no_role_passwords,
            skips: SkipOptions {
                extensions: a.skip_extensions,
                ext_comments: a.skip_ext_comments || a.skip_extensions,
                collations: a.skip_collations,
            },
            requirements: match &a.requirements {
                Some(path) => crate::extensions::requirements::load(path)?,
                None => Default::default(),
            },
            without_source: false,
        })
    }
}
