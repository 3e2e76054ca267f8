//! A password given on the command line (`--source postgres://u:secret@h/db`,
//! `--target "host=h password=secret"`) is hidden from `ps` and
//! `/proc/<pid>/cmdline` as soon as the arguments are parsed: every other
//! local user can read a process's arguments, for as long as it runs. The
//! bytes of the password are overwritten in place with `*` (what `ps`
//! reads is the process's own copy of its arguments); the rest of the
//! command line stays as it was, for whoever looks at what runs.

use std::ops::Range;

use crate::conninfo;

/// The arguments as the C runtime passed them, captured before `main` (see
/// [`capture`]): Rust's own copy of them (`std::env::args`) is not what
/// `ps` reads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod argv {
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    static ARGC: AtomicUsize = AtomicUsize::new(0);
    static ARGV: AtomicPtr<*mut libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// glibc calls the functions of `.init_array` with `argc`, `argv` and
    /// `envp`, before `main` (the standard library captures its own copy
    /// the same way).
    #[used]
    #[link_section = ".init_array.00099"]
    static CAPTURE: extern "C" fn(libc::c_int, *mut *mut libc::c_char, *mut *mut libc::c_char) =
        capture;

    extern "C" fn capture(
        argc: libc::c_int,
        argv: *mut *mut libc::c_char,
        _envp: *mut *mut libc::c_char,
    ) {
        ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    /// Overwrite, in every argument, the bytes `spans` finds with `*`.
    pub fn overwrite(spans: impl Fn(&str) -> Vec<std::ops::Range<usize>>) {
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() {
            return;
        }
        for i in 1..ARGC.load(Ordering::Relaxed) {
            // SAFETY: argv holds argc pointers to NUL-terminated strings
            // (the process's argument area, writable, alive until exit);
            // each is read and written within its length, on the one
            // thread that exists while arguments are parsed.
            unsafe {
                let arg = *argv.add(i);
                if arg.is_null() {
                    continue;
                }
                let bytes = std::slice::from_raw_parts_mut(arg.cast::<u8>(), libc::strlen(arg));
                let Ok(text) = std::str::from_utf8(bytes) else {
                    continue;
                };
                for span in spans(text) {
                    if let Some(secret) = bytes.get_mut(span) {
                        secret.fill(b'*');
                    }
                }
            }
        }
    }
}

/// Hide the passwords of the command line from other processes.
pub fn hide() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    argv::overwrite(password_spans);
}

/// Where the passwords of an argument are: the argument as a connection
/// string (URI or keyword/value, see [`conninfo::password_spans`]), or the
/// value of a `--option=value` argument as one.
pub fn password_spans(arg: &str) -> Vec<Range<usize>> {
    let value_at = match arg.strip_prefix("--").and_then(|a| a.find('=')) {
        Some(equals) => equals + 3,
        None => 0,
    };
    conninfo::password_spans(arg.get(value_at..).unwrap_or_default())
        .into_iter()
        .map(|span| span.start + value_at..span.end + value_at)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::password_spans;

    fn hidden(arg: &str) -> String {
        let mut bytes = arg.as_bytes().to_vec();
        for span in password_spans(arg) {
            bytes[span].fill(b'*');
        }
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn passwords_are_found_in_every_connection_string_form() {
        let cases = [
            (
                "postgres://app:s3cret@db.example:5432/app",
                "postgres://app:******@db.example:5432/app",
            ),
            (
                "--source=postgresql://app:p%40ss@h1,h2/db?sslmode=require",
                "--source=postgresql://app:******@h1,h2/db?sslmode=require",
            ),
            (
                "postgres://app@h/db?sslmode=require&password=s3cret&x=1",
                "postgres://app@h/db?sslmode=require&password=******&x=1",
            ),
            (
                "host=h password=s3cret user=u",
                "host=h password=****** user=u",
            ),
            (
                "host=h password = 'it\\'s x' dbname=d",
                "host=h password = '*******' dbname=d",
            ),
            ("password=s3cret", "password=******"),
            (
                "postgres://u:p@ss@h/db?password=a&b&sslmode=require",
                "postgres://u:****@h/db?password=*&*&sslmode=require",
            ),
            ("--target=password=s3cret", "--target=password=******"),
        ];
        for (arg, expected) in cases {
            assert_eq!(hidden(arg), expected, "{arg}");
        }
    }

    #[test]
    fn arguments_without_a_password_are_left_alone() {
        for arg in [
            "postgres://app@h:5432/db",
            "postgres://h/db",
            "host=h user=u dbname=mypassword",
            "--dir=/tmp/password",
            "passwords=1",
            "clone",
        ] {
            assert_eq!(hidden(arg), arg);
        }
    }
}
