//! The settings a clone runs with, derived from the command line.

use std::path::PathBuf;

use super::toc_skips::SkipOptions;
use crate::catalog::parts::SplitSettings;
use crate::catalog::TableSizes;
use crate::cli::{CloneArgs, CopyFormatArg};
use crate::error::Failure;
use crate::filters::{Filters, Kind};
use crate::schema::RestoreOptions;
use crate::workdir::{Reuse, WorkDir};

#[derive(Debug, Clone)]
pub struct CloneOptions {
    pub dir: PathBuf,
    pub table_jobs: usize,
    pub index_jobs: usize,
    pub restore_jobs: usize,
    pub large_objects_jobs: usize,
    pub split: SplitSettings,
    /// `--estimate-table-sizes`.
    pub table_sizes: TableSizes,
    pub skip_split_by_ctid: bool,
    pub drop_if_exists: bool,
    /// `--drop-cascade`: let `--drop-if-exists` drop the target's own
    /// objects that depend on the replaced tables.
    pub drop_cascade: bool,
    pub no_owner: bool,
    pub no_acl: bool,
    pub no_comments: bool,
    pub no_tablespaces: bool,
    pub skip_large_objects: bool,
    pub skip_vacuum: bool,
    pub skip_db_properties: bool,
    /// `--use-copy-binary` is `--copy-format binary`.
    pub copy_format: CopyFormatArg,
    pub snapshot: Option<String>,
    pub not_consistent: bool,
    pub fail_fast: bool,
    pub verify: bool,
    pub restart: bool,
    pub resume: bool,
    /// `--filters`; empty when not given.
    pub filters: Filters,
    /// Limits shared with the other databases of an `--all-databases` run.
    pub limits: Option<std::sync::Arc<super::limits::JobLimits>>,
    /// `--roles`: copy the roles before the schema.
    pub roles: bool,
    pub no_role_passwords: bool,
    /// `--skip-extensions`, `--skip-ext-comments`, `--skip-collations`.
    pub skips: SkipOptions,
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
                CopyFormatArg::Binary
            } else {
                a.copy_format
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
        })
    }

    pub fn reuse(&self) -> Reuse {
        if self.restart {
            Reuse::Restart
        } else if self.resume {
            Reuse::Resume
        } else {
            Reuse::Fresh
        }
    }

    pub fn restore_options(&self) -> RestoreOptions {
        RestoreOptions {
            jobs: self.restore_jobs,
            clean_if_exists: self.drop_if_exists,
            no_owner: self.no_owner,
            no_acl: self.no_acl,
            no_comments: self.no_comments,
            no_tablespaces: self.no_tablespaces,
        }
    }
}
