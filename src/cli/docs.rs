//! `pgcopydb generate-docs --out-dir DIR` (hidden): the man pages and shell
//! completions a package installs, generated from the command definitions so
//! they never drift from `--help`. scripts/build-deb runs it.
//!
//! DIR/man1 gets `pgcopydb.1` and one page per command family
//! (`pgcopydb-clone.1`, `pgcopydb-copy.1`...), a family's page also
//! describing each of its commands, and a link per alias (`pgcopydb-fork.1`); DIR/completions gets `pgcopydb.bash`,
//! `_pgcopydb` (zsh) and `pgcopydb.fish`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    /// Directory to write man1/ and completions/ into (created when missing)
    #[arg(long)]
    out_dir: PathBuf,
}

pub fn run(args: DocsArgs) -> anyhow::Result<()> {
    // No `help` subcommands in the pages; build() sets every subcommand's bin
    // name ("pgcopydb copy db") for the synopses.
    let mut cli = super::Cli::command().disable_help_subcommand(true);
    cli.build();
    let man_dir = args.out_dir.join("man1");
    create_dir(&man_dir)?;
    // The main page lists the families, each pointing at its own page.
    let mut main_page = Vec::new();
    clap_mangen::Man::new(cli.clone()).render(&mut main_page)?;
    write(&man_dir.join("pgcopydb.1"), &main_page)?;
    for family in documented(&cli) {
        let name = format!("pgcopydb-{}", family.get_name());
        write(&man_dir.join(format!("{name}.1")), &family_page(family)?)?;
        // `man pgcopydb-fork` shows clone's page.
        for alias in family.get_visible_aliases() {
            let link = format!(".so man1/{name}.1\n");
            write(
                &man_dir.join(format!("pgcopydb-{alias}.1")),
                link.as_bytes(),
            )?;
        }
    }

    let completions = args.out_dir.join("completions");
    create_dir(&completions)?;
    use clap_complete::Shell;
    for (shell, file) in [
        (Shell::Bash, "pgcopydb.bash"),
        (Shell::Zsh, "_pgcopydb"),
        (Shell::Fish, "pgcopydb.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cli.clone(), "pgcopydb", &mut script);
        write(&completions.join(file), &script)?;
    }
    Ok(())
}

/// The subcommands a user sees: neither hidden nor `help`.
fn documented(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

/// The man page of the command family `cmd`: a command's page as clap_mangen
/// writes it, or, for a family of several commands, the family's synopsis
/// and options, then a section per command with its synopsis, description
/// and options (instead of a list of pages that do not exist).
fn family_page(cmd: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    if !cmd.has_subcommands() {
        man.render(&mut out)?;
        return Ok(out);
    }
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    for sub in documented(cmd) {
        let bin_name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
        out.extend_from_slice(format!(".SH \"{}\"\n", bin_name.to_uppercase()).as_bytes());
        let man = clap_mangen::Man::new(sub.clone());
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        man.render_options_section(&mut section)?;
        // Inside the command's own section, its parts are subsections.
        let section = String::from_utf8_lossy(&section).replace("\n.SH ", "\n.SS ");
        let section = section
            .strip_prefix(".SH ")
            .map_or(section.clone(), |rest| format!(".SS {rest}"));
        out.extend_from_slice(section.as_bytes());
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
