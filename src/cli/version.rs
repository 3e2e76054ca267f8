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
        // The original's `pg_*` keys describe the libpq it was built with;
        // we link no libpq: ours describe the newest PostgreSQL client tools
        // found (the pg_dump/pg_restore a run would pick for a target of
        // that version), null when there are none.
        let newest = crate::tools::discover().into_iter().max_by_key(|t| t.major);
        let doc = serde_json::json!({
            "pgcopydb": version,
            "pg_major": newest.as_ref().map(|t| t.major.to_string()),
            "pg_version": newest.as_ref().map(|t| t.version.clone()),
            "pg_version_str": newest.as_ref().map(|t| format!("PostgreSQL {}", t.version)),
            "pg_version_num": newest.as_ref().map(|t| version_num(&t.version)),
            "pg_bindir": newest.as_ref().map(|t| t.bindir.display().to_string()),
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

/// `15.18` as PostgreSQL's `server_version_num` writes it (150018); a
/// pre-release (`18beta1`) counts as minor 0.
fn version_num(version: &str) -> u32 {
    let mut numbers = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let major: u32 = numbers.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let minor: u32 = numbers.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    major * 10000 + minor
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_numbers_read_as_server_version_num() {
        assert_eq!(super::version_num("15.18"), 150018);
        assert_eq!(super::version_num("18beta1"), 180000);
        assert_eq!(super::version_num("13.2"), 130002);
    }
}
