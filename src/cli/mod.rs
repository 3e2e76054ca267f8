//! Command-line interface: the command tree and its options, compatible with
//! the original pgcopydb (same names, defaults and `PGCOPYDB_*` variables).
//!
//! This layer only turns arguments into settings and hands them to the engine.

mod cdc_args;
mod clone;
mod clone_args;
mod clone_follow;
mod compare;
mod compat_args;
mod docs;
mod extensions;
mod follow;
mod hide_passwords;
mod list;
mod ping;
mod roles;
mod settings;
mod snapshot;
mod steps;
mod stream;
mod stream_sentinel;
mod version;

#[cfg(test)]
mod layering;
#[cfg(test)]
mod stream_tests;

pub use clone_args::{CloneArgs, ConnectionArgs, CopyFormatArg, EstimateSizesArg, LogArgs};

use clap::{Parser, Subcommand};

use crate::clone::Steps;

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
    /// Dump the schema or the roles into the work directory
    #[command(subcommand)]
    Dump(steps::DumpCommand),
    /// Restore from the work directory
    #[command(subcommand)]
    Restore(steps::RestoreCommand),
    /// Export a snapshot on the source and hold it until interrupted
    Snapshot(snapshot::SnapshotArgs),
    /// Apply the source's changes to the target (logical decoding), until endpos
    Follow(follow::FollowArgs),
    /// Change data capture step by step: setup, receive, apply, cleanup, sentinel
    #[command(subcommand)]
    Stream(stream::StreamCommand),
    /// List what the source holds, what a copy of it would do, or what a run did
    #[command(subcommand)]
    List(list::ListCommand),
    /// Compare the source and target databases (non-zero exit when they differ)
    #[command(subcommand)]
    Compare(compare::CompareCommand),
    /// Check the connections to the source and target servers and the pg_dump/pg_restore to use
    Ping(ping::PingArgs),
    /// Print the version of pgcopydb
    Version(version::VersionArgs),
    /// Write the man pages and shell completions into a directory (for packaging)
    #[command(hide = true)]
    GenerateDocs(docs::DocsArgs),
}

#[derive(Debug, Subcommand)]
pub enum CopyCommand {
    /// Copy a whole database (same as clone)
    Db(CloneArgs),
    /// Copy the roles (dump roles, then restore roles)
    Roles(roles::RolesArgs),
    /// Create the source's extensions on the target and copy their configuration tables' rows
    Extensions(extensions::ExtensionsArgs),
    /// Copy the schema: dump, pre-data and post-data, no data
    Schema(CloneArgs),
    /// Copy table data, large objects and sequences, and build indexes and constraints
    Data(CloneArgs),
    /// Copy table data only (no indexes)
    TableData(CloneArgs),
    /// Copy large objects
    Blobs(CloneArgs),
    /// Set the target's sequences to the source's values
    Sequences(CloneArgs),
    /// Build the indexes (IF NOT EXISTS) of every table
    Indexes(CloneArgs),
    /// Attach PRIMARY KEY, UNIQUE and EXCLUDE constraints to the built indexes
    Constraints(CloneArgs),
}

/// Scripts written for the original pgcopydb put options before the command
/// (`pgcopydb -v clone ...`, `pgcopydb --json list tables`): those options
/// move after the command's words, where the command takes them.
fn leading_options_last(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(str::to_string))
        })
        .collect();
    let starts_with_option = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| a.starts_with('-'));
    let command_at = args
        .iter()
        .skip(1)
        .position(|a| a.to_str().is_some_and(|a| commands.iter().any(|c| c == a)))
        .map(|i| i + 1);
    match command_at {
        Some(at) if starts_with_option && at > 1 => {
            let mut moved = args;
            // [program, options..., command...] -> [program, command..., options...]
            if let Some(tail) = moved.get_mut(1..) {
                tail.rotate_left(at - 1);
            }
            moved
        }
        _ => args,
    }
}

/// Parse arguments and run the command; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse_from(leading_options_last(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version itself; anything else is a usage error (exit 1).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // Parsed: whatever password the arguments hold is hidden from `ps` now.
    hide_passwords::hide();
    if let Err(e) = crate::failpoint::check_env() {
        crate::report::stdout::eprintln(format!("error: {e}"));
        return crate::error::ExitCode::BadArgs as i32;
    }
    // Everything pgcopydb and its children (pg_dump, pg_dumpall, SQLite)
    // create is private to the user: the work directory holds the schema,
    // role password verifiers and the run's state.
    // SAFETY: umask has no preconditions; no other thread exists yet.
    unsafe {
        libc::umask(0o077);
    }
    crate::memory::settle_allocator();
    // One thread: the tool only moves bytes between sockets, and keeping every
    // connection task and worker on one thread avoids a cross-thread wake-up
    // per COPY message (half the tool's CPU in the benchmark, 2.5 s to 1.3 s).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            crate::report::stdout::eprintln(format_args!(
                "error: cannot start the async runtime: {e}"
            ));
            return crate::error::ExitCode::Internal as i32;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Clone(args) | Command::Copy(CopyCommand::Db(args)) => {
                if args.all_databases {
                    clone::run_all_databases(args).await
                } else {
                    clone::run(args).await
                }
            }
            Command::Copy(CopyCommand::Roles(args)) => {
                roles::run(args, roles::RolesStep::Copy).await
            }
            Command::Copy(CopyCommand::Extensions(args)) => extensions::run(args).await,
            Command::Copy(cmd) => {
                let (args, steps) = match cmd {
                    CopyCommand::Schema(a) => (a, Steps::COPY_SCHEMA),
                    CopyCommand::Data(a) => (a, Steps::COPY_DATA),
                    CopyCommand::TableData(a) => (a, Steps::COPY_TABLE_DATA),
                    CopyCommand::Blobs(a) => (a, Steps::COPY_BLOBS),
                    CopyCommand::Sequences(a) => (a, Steps::COPY_SEQUENCES),
                    CopyCommand::Indexes(a) => (a, Steps::COPY_INDEXES),
                    CopyCommand::Constraints(a) => (a, Steps::COPY_CONSTRAINTS),
                    CopyCommand::Db(_) | CopyCommand::Roles(_) | CopyCommand::Extensions(_) => {
                        unreachable!("handled above")
                    }
                };
                steps::run_step(args, steps).await
            }
            Command::Dump(steps::DumpCommand::Schema(args)) => {
                steps::run_step(args, Steps::DUMP_SCHEMA).await
            }
            Command::Dump(steps::DumpCommand::Roles(args)) => {
                roles::run(args, roles::RolesStep::Dump).await
            }
            Command::Restore(cmd) => match cmd {
                steps::RestoreCommand::Schema(a) => steps::run_step(a, Steps::RESTORE_SCHEMA).await,
                steps::RestoreCommand::PreData(a) => {
                    steps::run_step(a, Steps::RESTORE_PRE_DATA).await
                }
                steps::RestoreCommand::PostData(a) => {
                    steps::run_step(a, Steps::RESTORE_POST_DATA).await
                }
                steps::RestoreCommand::Roles(a) => roles::run(a, roles::RolesStep::Restore).await,
                steps::RestoreCommand::ParseList(a) => steps::print_restore_lists(a).await,
            },
            Command::Compare(command) => compare::run(command).await,
            Command::Ping(args) => ping::run(args).await,
            Command::Snapshot(args) => snapshot::run(args).await,
            Command::Follow(args) => follow::run(args).await,
            Command::Stream(cmd) => stream::run(cmd).await,
            Command::List(cmd) => list::run(cmd).await,
            Command::Version(args) => version::run(args),
            Command::GenerateDocs(args) => docs::run(args),
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

#[cfg(test)]
mod leading_options_tests {
    use super::leading_options_last;

    fn moved(args: &[&str]) -> Vec<String> {
        leading_options_last(args.iter().map(|a| (*a).into()).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn options_before_the_command_move_after_it() {
        assert_eq!(
            moved(&["pgcopydb", "-v", "clone", "--dir", "d"]),
            ["pgcopydb", "clone", "--dir", "d", "-v"]
        );
        assert_eq!(
            moved(&["pgcopydb", "--json", "-q", "list", "tables"]),
            ["pgcopydb", "list", "tables", "--json", "-q"]
        );
        assert_eq!(
            moved(&["pgcopydb", "--dir", "/x", "fork"]),
            ["pgcopydb", "fork", "--dir", "/x"]
        );
        // Nothing to move.
        assert_eq!(
            moved(&["pgcopydb", "clone", "-v"]),
            ["pgcopydb", "clone", "-v"]
        );
        assert_eq!(moved(&["pgcopydb", "--version"]), ["pgcopydb", "--version"]);
    }
}
