//! Which parts of the pipeline a command runs. `clone` runs them all; the
//! step-by-step commands (`dump schema`, `restore pre-data`, `copy
//! table-data`, `copy indexes`, ...) run one part each on a shared work
//! directory, and running them one after another gives the same target.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// What the command is called, for messages.
    pub name: &'static str,
    /// `pg_dump` of pre-data and post-data into the work directory.
    pub dump: bool,
    /// `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`.
    pub db_properties: bool,
    pub pre_data: bool,
    /// COPY of every table.
    pub table_data: bool,
    pub indexes: bool,
    /// PRIMARY KEY / UNIQUE / EXCLUDE constraints on the built indexes.
    pub constraints: bool,
    /// ANALYZE (VACUUM ANALYZE before PostgreSQL 14) of each table.
    pub analyze: bool,
    /// Foreign keys added as soon as both tables are complete (else post-data adds them).
    pub foreign_keys: bool,
    pub sequences: bool,
    pub large_objects: bool,
    pub post_data: bool,
    /// A whole run: the work directory is a single run (refused when it
    /// holds an unfinished one), and a resume must read the same snapshot.
    pub whole_run: bool,
}

const NOTHING: Steps = Steps {
    name: "",
    dump: false,
    db_properties: false,
    pre_data: false,
    table_data: false,
    indexes: false,
    constraints: false,
    analyze: false,
    foreign_keys: false,
    sequences: false,
    large_objects: false,
    post_data: false,
    whole_run: false,
};

impl Steps {
    pub const CLONE: Steps = Steps {
        name: "clone",
        dump: true,
        db_properties: true,
        pre_data: true,
        table_data: true,
        indexes: true,
        constraints: true,
        analyze: true,
        foreign_keys: true,
        sequences: true,
        large_objects: true,
        post_data: true,
        whole_run: true,
    };
    pub const DUMP_SCHEMA: Steps = Steps {
        name: "dump schema",
        dump: true,
        ..NOTHING
    };
    pub const RESTORE_PRE_DATA: Steps = Steps {
        name: "restore pre-data",
        db_properties: true,
        pre_data: true,
        ..NOTHING
    };
    pub const RESTORE_POST_DATA: Steps = Steps {
        name: "restore post-data",
        post_data: true,
        ..NOTHING
    };
    pub const RESTORE_SCHEMA: Steps = Steps {
        name: "restore schema",
        db_properties: true,
        pre_data: true,
        post_data: true,
        ..NOTHING
    };
    pub const COPY_SCHEMA: Steps = Steps {
        name: "copy schema",
        dump: true,
        db_properties: true,
        pre_data: true,
        post_data: true,
        ..NOTHING
    };
    pub const COPY_DATA: Steps = Steps {
        name: "copy data",
        table_data: true,
        indexes: true,
        constraints: true,
        analyze: true,
        sequences: true,
        large_objects: true,
        ..NOTHING
    };
    pub const COPY_TABLE_DATA: Steps = Steps {
        name: "copy table-data",
        table_data: true,
        ..NOTHING
    };
    pub const COPY_INDEXES: Steps = Steps {
        name: "copy indexes",
        indexes: true,
        ..NOTHING
    };
    pub const COPY_CONSTRAINTS: Steps = Steps {
        name: "copy constraints",
        constraints: true,
        ..NOTHING
    };
    pub const COPY_SEQUENCES: Steps = Steps {
        name: "copy sequences",
        sequences: true,
        ..NOTHING
    };
    pub const COPY_BLOBS: Steps = Steps {
        name: "copy blobs",
        large_objects: true,
        ..NOTHING
    };

    /// Whether any work follows a table's copy.
    pub fn after_copy(&self) -> bool {
        self.indexes || self.constraints || self.analyze
    }

    /// Whether the command writes to the target (only `dump schema` does not).
    pub fn touches_target(&self) -> bool {
        self.db_properties
            || self.pre_data
            || self.table_data
            || self.after_copy()
            || self.sequences
            || self.large_objects
            || self.post_data
    }

    /// Whether the command reads the source itself. The restore steps work
    /// from the dump and the catalog recorded in the work directory, so
    /// they run without `--source`, as the original's do.
    pub fn needs_source(&self) -> bool {
        self.dump || self.table_data || self.after_copy() || self.sequences || self.large_objects
    }

    /// Whether the pre/post-data restore needs the schema archive.
    pub fn needs_archive(&self) -> bool {
        self.pre_data || self.post_data
    }
}
