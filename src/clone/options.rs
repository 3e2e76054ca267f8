//! The settings a clone runs with (`cli` builds them from the command line).

use std::path::PathBuf;

use super::toc_skips::SkipOptions;
use crate::catalog::parts::SplitSettings;
use crate::catalog::TableSizes;
use crate::filters::Filters;
use crate::schema::RestoreOptions;
use crate::workdir::Reuse;

/// `--copy-format`: which tables are copied in binary (see `data::format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormatChoice {
    /// Binary where safe, when both servers share the major version.
    Auto,
    Text,
    /// Binary wherever safe.
    Binary,
}

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
    pub copy_format: CopyFormatChoice,
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
    /// `--requirements FILE`: extension versions to create instead of the source's.
    pub requirements: crate::extensions::requirements::Pins,
    /// A restore step given no `--source`: it works from the work directory's
    /// dump and catalog, and never connects to the source (whose connection
    /// string is then a placeholder that cannot connect).
    pub without_source: bool,
}

impl CloneOptions {
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
