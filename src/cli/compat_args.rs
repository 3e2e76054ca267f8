//! Options the original pgcopydb accepts on commands where they change
//! nothing, so that its scripts run unchanged. Each says why it is a no-op
//! (the README's "Differences from the original" table lists them).

use std::path::PathBuf;

/// `--resume`, `--restart`, `--not-consistent` on the one-shot commands
/// (`copy roles`, `dump roles`, `restore roles`, `copy extensions`): they
/// keep no per-unit state to resume from, so every run starts over.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OneShotRunArgs {
    /// Accepted for compatibility; no effect: this command has nothing to resume
    #[arg(short = 'R', long, conflicts_with = "restart")]
    pub resume: bool,
    /// Accepted for compatibility; no effect: this command always starts over
    #[arg(short = 'r', long)]
    pub restart: bool,
    /// Accepted for compatibility; no effect: this command has no snapshot to keep consistent
    #[arg(short = 'C', long)]
    pub not_consistent: bool,
}

/// Options of `copy roles` / `dump roles` / `restore roles` that do not apply
/// to roles: roles belong to the instance, not to a database snapshot, and
/// the roles script is one file run in order.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RolesIgnoredArgs {
    #[command(flatten)]
    pub run: OneShotRunArgs,
    /// Accepted for compatibility; no effect: roles are instance-wide, not in a snapshot
    #[arg(short = 'N', long)]
    pub snapshot: Option<String>,
    /// Accepted for compatibility; no effect: filters select database objects, not roles
    #[arg(short = 'F', long, visible_alias = "filter", value_name = "FILE")]
    pub filters: Option<PathBuf>,
    /// Accepted for compatibility; no effect: the roles script runs in one session, in order
    #[arg(short = 'j', long, value_name = "N")]
    pub restore_jobs: Option<u32>,
}

/// `--host` / `--port`: the original's TCP endpoint of a running follow,
/// which its sentinel commands may talk to instead of the work directory.
/// Here the follow process and the sentinel commands always meet in the
/// work directory (`--dir`, or `PGCOPYDB_DIR`), so no endpoint is opened
/// and the sentinel is read there.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CoordinatorArgs {
    /// Accepted for compatibility; no TCP endpoint: a running follow is reached through its work directory (--dir)
    #[arg(long, env = "PGCOPYDB_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// Accepted for compatibility, with --host
    #[arg(long, env = "PGCOPYDB_PORT", value_name = "PORT")]
    pub port: Option<u16>,
}

impl CoordinatorArgs {
    /// Say once that the endpoint asked for is not used, and where the
    /// sentinel is read and written instead.
    pub fn warn_unused(&self, dir: &std::path::Path) {
        if self.host.is_some() || self.port.is_some() {
            tracing::warn!(
                "--host/--port (PGCOPYDB_HOST/PGCOPYDB_PORT): no TCP endpoint for the follow; \
                 its sentinel is in the work directory {}",
                dir.display()
            );
        }
    }
}
