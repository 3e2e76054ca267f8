//! Defaults from the environment, applied the way libpq applies them:
//! explicit keys win, then PG* variables, then compiled-in defaults.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use super::parse::{set, Params};

/// PG* variables and the keyword each one fills.
const ENV_KEYS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGDATABASE", "dbname"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLCRL", "sslcrl"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGPASSFILE", "passfile"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
];

/// The socket directory Debian's libpq is built with; other builds use /tmp.
const DEBIAN_SOCKET_DIR: &str = "/var/run/postgresql";
pub(crate) const DEFAULT_PORT: &str = "5432";

fn has(params: &Params, key: &str) -> bool {
    params.iter().any(|(k, _)| k == key)
}

/// Fills keys not given explicitly from PG* variables. Empty variables count
/// as unset: libpq treats an empty host, port, user... as "use the default".
pub(crate) fn apply_env(params: &mut Params, env: &dyn Fn(&str) -> Option<String>) {
    for (var, key) in ENV_KEYS {
        if has(params, key) {
            continue;
        }
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            set(params, key, value);
        }
    }
}

/// Fills what is still missing with libpq's defaults plus pgcopydb's own
/// (application name, a connect timeout so an unreachable server fails fast).
pub(crate) fn apply_defaults(params: &mut Params, env: &dyn Fn(&str) -> Option<String>) {
    if !has(params, "user") {
        set(
            params,
            "user",
            os_user(env).unwrap_or_else(|| "postgres".into()),
        );
    }
    if !has(params, "dbname") {
        if let Some((_, user)) = params.iter().find(|(k, _)| k == "user") {
            let user = user.clone();
            set(params, "dbname", user);
        }
    }
    // With only hostaddr given, libpq connects there and never uses the socket.
    if !has(params, "host") && !has(params, "hostaddr") {
        set(params, "host", default_socket_dir().to_string());
    }
    if !has(params, "port") {
        set(params, "port", DEFAULT_PORT.to_string());
    }
    if !has(params, "application_name") && !has(params, "fallback_application_name") {
        set(params, "application_name", "pgcopydb".to_string());
    }
    if !has(params, "connect_timeout") {
        set(params, "connect_timeout", "10".to_string());
    }
}

pub(crate) fn default_socket_dir() -> &'static str {
    if Path::new(DEBIAN_SOCKET_DIR).is_dir() {
        DEBIAN_SOCKET_DIR
    } else {
        "/tmp"
    }
}

/// The effective OS user, as libpq finds it (getpwuid), then $USER.
pub(crate) fn os_user(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    passwd_entry()
        .map(|(name, _)| name)
        .or_else(|| env("USER").filter(|u| !u.is_empty()))
}

/// $HOME first (so tests and sudo setups can redirect it), then the passwd entry.
pub(crate) fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| passwd_entry().map(|(_, home)| home))
}

fn passwd_entry() -> Option<(String, PathBuf)> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data, filled by getpwuid_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the duration of the call and buf's
    // length is passed; the strings read below point into buf, which outlives them.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name and pw_dir are NUL-terminated in buf.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_string_lossy()
        .into_owned();
    let dir = if pwd.pw_dir.is_null() {
        PathBuf::new()
    } else {
        // SAFETY: as above.
        PathBuf::from(
            unsafe { CStr::from_ptr(pwd.pw_dir) }
                .to_string_lossy()
                .into_owned(),
        )
    };
    Some((name, dir))
}
