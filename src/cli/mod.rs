//! Command-line interface: the command tree and its options, compatible with
//! the original pgcopydb (same names, defaults and `PGCOPYDB_*` variables).
//!
//! This layer only turns arguments into settings and hands them to the engine.

mod clone_args;
mod list;
mod ping;
mod snapshot;
mod version;

pub use clone_args::{CloneArgs, ConnectionArgs, CopyFormatArg, LogArgs};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pgcopydb",
    about = "Copy a live PostgreSQL database to another server",
    version = env!("CARGO_PKG_VERSION"),
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Clone a whole database: schema, data, indexes, constraints, sequences, large objects
    #[command(visible_alias = "fork")]
    Clone(CloneArgs),
    /// Copy parts of a database
    #[command(subcommand)]
    Copy(CopyCommand),
    /// Export a snapshot on the source and hold it until interrupted
    Snapshot(snapshot::SnapshotArgs),
    /// List what the source holds, what a copy of it would do, or what a run did
    #[command(subcommand)]
    List(list::ListCommand),
    /// Check the connections to the source and target servers and the pg_dump/pg_restore to use
    Ping(ping::PingArgs),
    /// Print the version of pgcopydb
    Version(version::VersionArgs),
}

#[derive(Debug, Subcommand)]
pub enum CopyCommand {
    /// Copy a whole database (same as clone)
    Db(CloneArgs),
}

/// Parse arguments and run the command; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version itself; anything else is a usage error (exit 1).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Clone(args) | Command::Copy(CopyCommand::Db(args)) => {
                crate::clone::run_cli(args).await
            }
            Command::Ping(args) => ping::run(args).await,
            Command::Snapshot(args) => snapshot::run(args).await,
            Command::List(cmd) => list::run(cmd).await,
            Command::Version(args) => version::run(args),
        }
    });
    match result {
        Ok(()) => 0,
        Err(err) => {
            let code = crate::error::exit_code_of(&err);
            crate::report::logging::print_fatal(&err);
            code as i32
        }
    }
}
