//! `dump roles`, `restore roles`, `copy roles`.

use std::path::PathBuf;

use anyhow::Result;
use tracing::info;

use crate::cli::{ConnectionArgs, LogArgs};
use crate::connections::{connect, server_major, Endpoints, Side};
use crate::error::Failure;
use crate::roles;
use crate::tools;
use crate::workdir::WorkDir;

#[derive(Debug, Clone, clap::Args)]
pub struct RolesArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Work directory (the roles dump is `schema/roles.sql` in it)
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,
    /// Do not dump role passwords (automatic when the source cannot read them)
    #[arg(long)]
    pub no_role_passwords: bool,
    #[command(flatten)]
    pub ignored: super::compat_args::RolesIgnoredArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolesStep {
    Dump,
    Restore,
    Copy,
}

fn roles_file(args: &RolesArgs) -> PathBuf {
    args.dir
        .clone()
        .unwrap_or_else(WorkDir::default_path)
        .join("schema")
        .join("roles.sql")
}

pub async fn run(args: RolesArgs, step: RolesStep) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let file = roles_file(&args);
    if step != RolesStep::Restore {
        let source = args.conn.source.as_deref().ok_or_else(|| {
            Failure::args("no source connection string: use --source or set PGCOPYDB_SOURCE_PGURI")
        })?;
        let source = crate::conninfo::ConnInfo::resolve(source)
            .map_err(|e| Failure::args(format!("invalid source connection string: {e:#}")))?;
        let client = connect(Side::Source, &source).await?;
        if step == RolesStep::Copy {
            // Roles belong to the instance: into itself, it is the same roles.
            let endpoints = Endpoints::from_args(&args.conn)?;
            let target = connect(Side::Target, &endpoints.target).await?;
            crate::guards::refuse_same_instance(&client, &target, "copy roles").await?;
        }
        let major = server_major(&client).await?;
        let tools = tools::choose(&tools::discover(), major, major)?;
        let passwords = !args.no_role_passwords && roles::can_read_passwords(&client).await?;
        if !passwords && !args.no_role_passwords {
            info!("the source role cannot read pg_authid: dumping roles without passwords");
        }
        if let Some(schema) = file.parent() {
            if let Some(root) = schema.parent() {
                crate::workdir::private::create_private_dir(root)?;
            }
            crate::workdir::private::create_private_dir(schema)?;
        }
        roles::dump_roles(&tools, &source, passwords, &file).await?;
        info!("roles dumped to {}", file.display());
    }
    if step != RolesStep::Dump {
        // Restoring needs only the target: one roles dump may go to several targets.
        let target = crate::connections::resolve(Side::Target, args.conn.target.as_deref())?;
        let script = std::fs::read_to_string(&file).map_err(|e| {
            Failure::state(format!(
                "cannot read {}: {e}; run `pgcopydb dump roles` first",
                file.display()
            ))
        })?;
        let target = connect(Side::Target, &target).await?;
        let created = roles::restore_roles(&target, &script).await?;
        info!(
            "created {} role(s) on the target: {}",
            created.len(),
            created.join(", ")
        );
    }
    Ok(())
}
