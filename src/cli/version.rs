//! `pgcopydb version [--json]`

/// The version of the original pgcopydb whose command line (commands,
/// options, `PGCOPYDB_*` variables) this one follows.
pub const ORIGINAL_VERSION: &str = "0.18";

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print the version as JSON
    #[arg(short = 'J', long)]
    json: bool,
}

pub fn run(args: VersionArgs) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    if args.json {
        // The original's keys (`pgcopydb`, `pg_major`, `pg_version`, `pg_version_str`,
        // `pg_version_num`) describe the libpq it was built with: we link no
        // libpq, so those are absent rather than invented.
        let doc = serde_json::json!({
            "pgcopydb": version,
            "compatible_with": ORIGINAL_VERSION,
            "implementation": "rust",
            "rustc_target": std::env::consts::ARCH,
            // Built with the `failpoints` feature (the tests need it).
            "failpoints": crate::failpoint::COMPILED,
        });
        crate::report::stdout::print_json(&doc)?;
    } else {
        crate::report::stdout::println(format_args!(
            "pgcopydb version {version} (command line of the original pgcopydb {ORIGINAL_VERSION})"
        ))?;
    }
    Ok(())
}
