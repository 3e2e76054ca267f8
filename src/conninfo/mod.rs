//! libpq-compatible connection information.
//!
//! tokio-postgres reads no environment, no `.pgpass`, no service file and
//! rejects libpq keys it does not know (sslrootcert, sslcert, ...), while
//! pg_dump and pg_restore need the full libpq string. So the string is
//! resolved here once, the libpq way, and kept as ordered libpq key/value
//! pairs; [`ConnInfo::connect`] builds a `tokio_postgres::Config` from them
//! and [`ConnInfo::child_dbname_arg`] hands them to libpq-based children.

mod config;
mod connect;
mod env;
mod parse;
mod pgpass;
mod raw;
mod service;
mod tapped;
mod tls;

use std::path::PathBuf;

use anyhow::Result;

pub(crate) use connect::io_message;
pub use connect::{ConnectError, ConnectErrorKind};
pub use parse::password_spans;
use parse::{quote, set, Params};
pub use raw::RawTarget;
pub use tapped::Endpoint;

/// Resolved connection parameters, with libpq keyword names.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    params: Params,
    /// The password file in effect, so connect() can look up a password per
    /// host (multi-host strings) and with_dbname() can look it up again.
    passfile: Option<PathBuf>,
    /// True when the password came from the password file, not the user.
    password_from_file: bool,
    /// Home directory, for libpq's default ~/.postgresql/ certificate files.
    home: Option<PathBuf>,
}

/// Debug output goes to logs: never show the password.
impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnInfo({})", self.safe_display())
    }
}

impl ConnInfo {
    /// Parses `s` and resolves it against the process environment.
    pub fn resolve(s: &str) -> Result<ConnInfo> {
        Self::resolve_with(s, &|k| std::env::var(k).ok())
    }

    /// Same as [`ConnInfo::resolve`] with an injectable environment (HOME
    /// included, which locates `~/.pgpass` and `~/.pg_service.conf`).
    pub fn resolve_with(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnInfo> {
        let mut params = parse::parse(s)?;
        // libpq treats an empty value like an absent one (host='' = default).
        params.retain(|(_, v)| !v.is_empty());
        let home = env::home_dir(env);
        service::apply_service(&mut params, env, home.as_deref())?;
        env::apply_env(&mut params, env);
        env::apply_defaults(&mut params, env);

        let passfile = match params.iter().find(|(k, _)| k == "passfile") {
            Some((_, v)) => Some(PathBuf::from(v)),
            None => home.as_ref().map(|h| h.join(".pgpass")),
        };
        let mut info = ConnInfo {
            params,
            passfile,
            password_from_file: false,
            home,
        };
        // Fail now, with the string at hand, rather than at the first connect.
        for target in config::try_targets(&info)? {
            config::config(&info, &target, None)?;
        }
        config::check_unsupported(&info)?;
        info.password_from_passfile();
        Ok(info)
    }

    /// With a single host, the password file entry becomes the password
    /// (children then get it as PGPASSWORD). With several hosts libpq picks
    /// an entry per host, which connect() and the children's libpq do.
    fn password_from_passfile(&mut self) {
        if self.get("password").is_some() {
            return;
        }
        let targets = config::targets(self);
        let [target] = targets.as_slice() else {
            return;
        };
        if let Some(pw) = self.passfile_password(&target.pgpass_host(), target.port) {
            set(&mut self.params, "password", pw);
            self.password_from_file = true;
        }
    }

    fn passfile_password(&self, host: &str, port: u16) -> Option<String> {
        let path = self.passfile.as_deref()?;
        pgpass::lookup(
            path,
            &pgpass::Lookup {
                host,
                port: &port.to_string(),
                dbname: self.dbname(),
                user: self.user(),
            },
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `application_name` our sessions carry (libpq: the fallback
    /// when none is set; the defaults set `pgcopydb` when neither is): how
    /// a run finds its own sessions in `pg_stat_activity`.
    pub fn application_name(&self) -> Option<&str> {
        self.get("application_name")
            .or(self.get("fallback_application_name"))
    }

    pub fn dbname(&self) -> &str {
        self.get("dbname").unwrap_or_default()
    }

    pub fn user(&self) -> &str {
        self.get("user").unwrap_or_default()
    }

    /// "host:port" (or "/socket/dir:port"), comma-separated for several hosts.
    pub fn host_port(&self) -> String {
        config::targets(self)
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn with_dbname(&self, dbname: &str) -> ConnInfo {
        let mut other = self.clone();
        set(&mut other.params, "dbname", dbname.to_string());
        // A password file entry may be specific to the old database.
        if other.password_from_file {
            other.params.retain(|(k, _)| k != "password");
            other.password_from_file = false;
            other.password_from_passfile();
        }
        other
    }

    /// `key=value` string without the password: for logs, errors, and files
    /// in the work directory.
    pub fn safe_display(&self) -> String {
        self.keyvalue_without_password()
    }

    /// The libpq string for a child's `--dbname`, without the password: a
    /// command line is visible to every user through `ps`. The password goes
    /// to the child in a password file of its own (see `schema::child`),
    /// which must win over any `passfile` of the string.
    pub fn child_dbname_arg(&self) -> String {
        let mut info = self.clone();
        if self.get("password").is_some() {
            info.params.retain(|(k, _)| k != "passfile");
        }
        info.keyvalue_without_password()
    }

    fn keyvalue_without_password(&self) -> String {
        self.params
            .iter()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The password a libpq-based child needs, if any.
    pub fn child_password(&self) -> Option<&str> {
        self.get("password")
    }

    /// A TLS connector matching sslmode; CancelToken::cancel_query needs one.
    pub fn tls(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
        tls::make_tls(self)
    }

    /// Parameters in order, password included: for building other clients'
    /// configurations (e.g. the replication connection).
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests;
