//! The Debian package (scripts/build-deb): unpacked into a scratch root, its
//! pgcopydb runs, its man pages render, its completions and README are there,
//! and its control fields replace Debian's `pgcopydb`.
//!
//! The package is `PGCOPYDB_TEST_DEB` when set (.ci/run builds the release
//! package and sets it), else one built here from the binary under test.
//! Skipped, with one line saying so, without dpkg-deb or man.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        support::output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package to test: `PGCOPYDB_TEST_DEB`, or one built into `dir`.
fn package(dir: &Path) -> PathBuf {
    if let Some(deb) = std::env::var_os("PGCOPYDB_TEST_DEB").filter(|d| !d.is_empty()) {
        return PathBuf::from(deb);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb");
    let printed = run(Command::new(script)
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_pgcopydb"),
            "--compress",
            "gzip",
        ])
        .arg("--out-dir")
        .arg(dir));
    PathBuf::from(printed.lines().last().unwrap_or_default())
}

/// `man -l page` rendered as plain text.
fn man(page: &Path) -> String {
    run(Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100"))
}

#[test]
fn the_package_installs_pgcopydb_its_man_pages_and_completions() {
    if let Some(missing) = ["dpkg-deb", "man"].into_iter().find(|p| !found(p)) {
        eprintln!("skipped: {missing} not found (the package test needs dpkg-deb and man)");
        return;
    }
    let scratch = support::workdir();
    let deb = package(scratch.path());
    let field = |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "pgcopydb-rs");
    for name in ["Conflicts", "Replaces", "Provides"] {
        assert_eq!(field(name).trim(), "pgcopydb", "{name}");
    }
    let depends = field("Depends");
    assert!(depends.contains("libc6"), "{depends}");
    assert!(depends.contains("postgresql-client"), "{depends}");

    let root = scratch.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let version = run(Command::new(root.join("usr/bin/pgcopydb")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("pgcopydb {}", env!("CARGO_PKG_VERSION"))
    );

    let man1 = root.join("usr/share/man/man1");
    let main = man(&man1.join("pgcopydb.1.gz"));
    assert!(main.contains("pgcopydb-clone(1)"), "{main}");
    assert!(
        !main.contains("generate-docs"),
        "a hidden command shown: {main}"
    );
    let clone = man(&man1.join("pgcopydb-clone.1.gz"));
    assert!(clone.contains("--table-jobs"), "{clone}");
    // A family's page describes each of its commands with its options.
    let copy = man(&man1.join("pgcopydb-copy.1.gz"));
    assert!(copy.contains("PGCOPYDB COPY TABLE-DATA"), "{copy}");
    assert!(copy.contains("--index-jobs"), "{copy}");
    assert!(!copy.contains("COPY HELP"), "{copy}");
    assert!(
        !copy.contains("pgcopydb-copy-db(1)"),
        "a page that does not exist: {copy}"
    );
    assert!(!man1.join("pgcopydb-help.1.gz").exists());
    // fork: clone's alias, a link to its page.
    for family in [
        "dump", "restore", "list", "compare", "snapshot", "ping", "fork",
    ] {
        let page = man1.join(format!("pgcopydb-{family}.1.gz"));
        assert!(page.is_file(), "{} missing", page.display());
    }

    for (path, needle) in [
        ("usr/share/bash-completion/completions/pgcopydb", "pgcopydb"),
        (
            "usr/share/zsh/vendor-completions/_pgcopydb",
            "#compdef pgcopydb",
        ),
        (
            "usr/share/fish/vendor_completions.d/pgcopydb.fish",
            "complete -c pgcopydb",
        ),
        ("usr/share/doc/pgcopydb-rs/README.md", "# pgcopydb"),
    ] {
        let text = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("{path} in the package: {e}"));
        assert!(text.contains(needle), "{path} lacks {needle}");
    }
}
