//! The layering rule, enforced: `cli` is the top layer, the only one that
//! knows clap. It turns arguments into engine settings and calls the engine;
//! nothing below it (every module outside `src/cli/`, and `src/main.rs`)
//! may refer to it, or the engine could no longer be used without clap.

use std::path::{Path, PathBuf};

/// Files allowed to refer to `crate::cli`, relative to `src/`.
fn exempt(relative: &Path) -> bool {
    relative.starts_with("cli") || relative == Path::new("main.rs")
}

#[test]
fn no_module_outside_cli_refers_to_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap_or(&file).to_path_buf();
        if exempt(&relative) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        if refers_to_cli(&text) {
            offenders.push(relative.display().to_string());
        }
    }
    offenders.sort();
    assert!(
        offenders.is_empty(),
        "these engine files refer to crate::cli; have src/cli/ build the settings they \
         need and pass them in instead: {}",
        offenders.join(", ")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Whether the code (comments left out) names the `cli` module through
/// `crate::`, `super::` or `pgcopydb::`, directly or in a `{...}` group.
fn refers_to_cli(text: &str) -> bool {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    ["crate::", "super::", "pgcopydb::"].iter().any(|root| {
        code.match_indices(root).any(|(at, _)| {
            let mut rest = &code[at + root.len()..];
            while let Some(after) = rest.strip_prefix("super::") {
                rest = after;
            }
            names_cli(rest)
        })
    })
}

/// `rest` starts with the path segment `cli`, or with a group holding it.
fn names_cli(rest: &str) -> bool {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return false,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                _ if item_start && depth == 0 => {
                    if is_segment(&group[i..], "cli") {
                        return true;
                    }
                    item_start = false;
                }
                _ => {}
            }
        }
        return false;
    }
    is_segment(rest, "cli")
}

fn is_segment(text: &str, name: &str) -> bool {
    text.strip_prefix(name)
        .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

#[test]
fn the_check_sees_every_way_of_naming_cli() {
    for text in [
        "use crate::cli::CloneArgs;",
        "use crate::cli;",
        "use crate::{\n    cli::LogArgs,\n    error::Failure,\n};",
        "use crate::{error::Failure, cli};",
        "fn f(a: &super::super::cli::LogArgs) {}",
        "let x = pgcopydb::cli::run();",
    ] {
        assert!(refers_to_cli(text), "{text}");
    }
    for text in [
        "use crate::client::Client;",
        "use crate::{clone::Steps, error::{Failure, cli_like}};",
        "// crate::cli builds these settings",
        "use crate::connections::Endpoints;",
    ] {
        assert!(!refers_to_cli(text), "{text}");
    }
}
