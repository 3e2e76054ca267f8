//! Running pg_dump/pg_restore as child processes.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

/// A command for `program` with `env` applied. Passwords reach the child only
/// through `env` (PGPASSWORD and friends), never its command line, which any
/// local user can read.
pub(crate) fn command(program: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        // If the caller gives up on the future (Ctrl-C, a sibling failed),
        // the child must not keep writing to the target behind our back.
        .kill_on_drop(true);
    // If pgcopydb itself is killed (SIGKILL leaves no chance to clean up),
    // the child must die too rather than go on restoring while a resumed run
    // redoes the same work.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// `--name=path` without going through `str`, so non-UTF-8 paths survive.
pub(crate) fn path_arg(name: &str, path: &Path) -> OsString {
    let mut arg = OsString::from(name);
    arg.push(path);
    arg
}

/// The part of a tool's stderr worth putting in an error message: from the
/// first `error:` line on (what precedes is usually progress or warnings),
/// or the start when there is no such line.
pub(crate) fn error_excerpt(stderr: &str) -> String {
    const MAX_LINES: usize = 8;
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.iter().position(|l| l.contains("error:")).unwrap_or(0);
    let end = lines.len().min(start + MAX_LINES);
    let mut excerpt = lines.get(start..end).unwrap_or_default().join("\n");
    if lines.len() > end {
        excerpt.push_str(&format!("\n… ({} more lines)", lines.len() - end));
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_starts_at_first_error() {
        let stderr = "pg_restore: warning: x\npg_restore: error: could not execute query: \
                      ERROR:  schema \"app\" already exists\nCommand was: CREATE SCHEMA app;\n\n";
        assert_eq!(
            error_excerpt(stderr),
            "pg_restore: error: could not execute query: ERROR:  schema \"app\" already exists\n\
             Command was: CREATE SCHEMA app;"
        );
    }

    #[test]
    fn excerpt_is_bounded() {
        let stderr: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let excerpt = error_excerpt(&stderr);
        assert!(excerpt.starts_with("line 0\n"));
        assert!(excerpt.ends_with("(12 more lines)"), "{excerpt}");
    }
}
