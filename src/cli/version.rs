//! `pgcopydb version [--json]`

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print the version as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(args: VersionArgs) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    if args.json {
        let doc = serde_json::json!({
            "pgcopydb": version,
            "implementation": "rust",
            "rustc_target": std::env::consts::ARCH,
            // Built with the `failpoints` feature (the tests need it).
            "failpoints": crate::failpoint::COMPILED,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("pgcopydb version {version}");
    }
    Ok(())
}
