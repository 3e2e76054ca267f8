//! Running pg_dump/pg_restore as child processes.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::error::Failure;

/// A command for `program`, authenticating with `password` when one is
/// needed. The password is in neither the child's command line (any local
/// user can read it through `ps`) nor its environment (`/proc/PID/environ`,
/// crash reports, whatever the child starts): libpq reads it from a password
/// file that exists only in memory and only as an open descriptor of the
/// child, `PGPASSFILE=/proc/self/fd/N`. Our own `PGCOPYDB_*` variables,
/// which may hold connection strings with passwords, are not passed on.
pub(crate) fn command(program: &Path, password: Option<&str>) -> std::io::Result<Command> {
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null())
        // If the caller gives up on the future (Ctrl-C, a sibling failed),
        // the child must not keep writing to the target behind our back.
        .kill_on_drop(true);
    for name in inherited_secrets() {
        cmd.env_remove(name);
    }
    let passfile = match password {
        Some(pw) => {
            let file = password_file(pw)?;
            cmd.env("PGPASSFILE", format!("/proc/self/fd/{}", file.as_raw_fd()));
            Some(file)
        }
        None => None,
    };
    // The closure owns the password file: it stays open until the command is
    // dropped, and is inherited by the child alone (close-on-exec is cleared
    // in the child, after the fork).
    // The files it writes (schema archive, lists) are private, whatever
    // umask pgcopydb was started with.
    // SAFETY: prctl, fcntl and umask are async-signal-safe and touch no
    // memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            // If pgcopydb itself is killed (SIGKILL leaves no chance to clean
            // up), the child must die too rather than go on restoring while a
            // resumed run redoes the same work.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Some(file) = &passfile {
                if libc::fcntl(file.as_raw_fd(), libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::umask(0o077);
            Ok(())
        });
    }
    Ok(cmd)
}

/// Variables of our own environment that a child must not inherit: the
/// password, and our `PGCOPYDB_*` settings, connection strings included.
pub(crate) fn inherited_secrets() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name == "PGPASSWORD" || name.to_string_lossy().starts_with("PGCOPYDB_"))
        .collect()
}

/// An anonymous in-memory file holding a libpq password file entry that
/// matches any server: `*:*:*:*:password`, with `:` and `\` escaped. libpq
/// ignores a password file readable by others, hence the 0600.
fn password_file(password: &str) -> std::io::Result<OwnedFd> {
    if password.contains(['\n', '\r']) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a password holding a line break cannot be handed to pg_dump, pg_restore or \
             pg_dumpall (their password file is line-based): change the password",
        ));
    }
    // SAFETY: the name is a valid C string; the returned descriptor is ours.
    let fd = unsafe { libc::memfd_create(c"pgcopydb-password".as_ptr(), libc::MFD_CLOEXEC) };
    if fd == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: memfd_create just returned this descriptor to us alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
    file.write_all(format!("*:*:*:*:{escaped}\n").as_bytes())?;
    Ok(OwnedFd::from(file))
}

/// The failure to start `program` (not found, not executable, no memory).
pub(crate) fn could_not_run(program: &Path, err: std::io::Error) -> Failure {
    Failure::config(format!("could not run {}: {err}", program.display()))
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
