//! `pgcopydb ping`: both connections, server versions, and the pg_dump/pg_restore pair.

use crate::cli::{ConnectionArgs, LogArgs};
use crate::connections::{connect, server_major, server_version, Endpoints, Side};
use crate::tools;

#[derive(Debug, clap::Args)]
pub struct PingArgs {
    #[command(flatten)]
    conn: ConnectionArgs,
    #[command(flatten)]
    log: LogArgs,
}

pub async fn run(args: PingArgs) -> anyhow::Result<()> {
    crate::report::logging::init(args.log.level());
    let endpoints = Endpoints::from_args(&args.conn)?;
    let mut majors = Vec::new();
    for (side, info) in [
        (Side::Source, &endpoints.source),
        (Side::Target, &endpoints.target),
    ] {
        let client = connect(side, info).await?;
        let version = server_version(&client).await?;
        majors.push(server_major(&client).await?);
        crate::report::stdout::println(format_args!(
            "{:<6}  {}  PostgreSQL {version}",
            side.name(),
            info.safe_display()
        ))?;
    }
    let &[source_major, target_major] = majors.as_slice() else {
        anyhow::bail!("expected the versions of two servers, got {}", majors.len());
    };
    let chosen = tools::choose(&tools::discover(), source_major, target_major)?;
    crate::report::stdout::println(format_args!(
        "tools   pg_dump/pg_restore {} in {}",
        chosen.version,
        chosen.bindir.display()
    ))?;
    if let Some(w) = &chosen.warning {
        tracing::warn!("{w}");
    }
    Ok(())
}
