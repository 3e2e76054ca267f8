//! The schema part of a copy: one `pg_dump --format=custom` archive holding
//! both pre-data and post-data (a single archive lets pg_restore see the
//! dependencies between the two), listed and restored one section at a
//! time through a filtered `--use-list`.

pub(crate) mod child;
mod dump;
mod properties;
mod restore;
mod schedule;
mod toc;

pub use dump::{dependencies, dump, list, list_keeping};
pub use properties::copy_db_properties;
pub use restore::{restore, RestoreOptions};
pub use schedule::{plan, Stage};
pub use toc::{parse_list, parse_list_keeping, write_use_list, TocEntry, UseList};

/// An archive section, as `pg_dump`/`pg_restore --section` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    PreData,
    PostData,
}

impl Section {
    pub fn as_arg(self) -> &'static str {
        match self {
            Section::PreData => "pre-data",
            Section::PostData => "post-data",
        }
    }
}
