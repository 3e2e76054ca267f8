//! Password lookup in a libpq password file (`~/.pgpass` or `passfile`).
//!
//! Format: `hostname:port:database:username:password`, one entry per line,
//! `*` matches anything, `\` escapes `:` and `\`, first match wins.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the password is looked up for.
pub(crate) struct Lookup<'a> {
    pub host: &'a str,
    pub port: &'a str,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// Returns the password of the first matching entry. A missing file is not
/// an error; an unsafe or unreadable one is skipped with a warning, like libpq.
pub(crate) fn lookup(path: &Path, want: &Lookup<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!("password file \"{}\" is not a plain file", path.display());
        return None;
    }
    // Others could read the passwords: libpq refuses the file, and so do we.
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
        return None;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!("could not read password file \"{}\": {e}", path.display());
            return None;
        }
    };
    find(&text, want)
}

pub(crate) fn find(text: &str, want: &Lookup<'_>) -> Option<String> {
    // A unix-socket host is written "localhost" in password files.
    let socket = want.host.starts_with('/');
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let fields = split(line);
            let [host, port, dbname, user, password, ..] = fields.as_slice() else {
                return None;
            };
            let host_ok = matches(host, want.host) || (socket && host.text == "localhost");
            let ok = host_ok
                && matches(port, want.port)
                && matches(dbname, want.dbname)
                && matches(user, want.user);
            ok.then(|| password.text.clone())
        })
}

struct Field {
    text: String,
    /// A field written `\*` is a literal star, not a wildcard.
    escaped: bool,
}

fn matches(field: &Field, value: &str) -> bool {
    (field.text == "*" && !field.escaped) || field.text == value
}

/// Splits on unescaped ':' into at most five fields; the password is the
/// fifth and ends at the next unescaped ':' (libpq ignores anything after).
fn split(line: &str) -> Vec<Field> {
    let mut fields = Vec::with_capacity(5);
    let mut current = Field {
        text: String::new(),
        escaped: false,
    };
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.text.push(next);
                    current.escaped = true;
                }
            }
            ':' => {
                let done = std::mem::replace(
                    &mut current,
                    Field {
                        text: String::new(),
                        escaped: false,
                    },
                );
                fields.push(done);
                if fields.len() == 5 {
                    return fields;
                }
            }
            c => current.text.push(c),
        }
    }
    fields.push(current);
    fields
}

#[cfg(test)]
#[path = "pgpass_tests.rs"]
mod tests;
