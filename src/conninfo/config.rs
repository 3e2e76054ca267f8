//! From libpq parameters to `tokio_postgres::Config`, one host at a time.
//!
//! Each host is connected separately (instead of giving tokio-postgres the
//! whole list) so that a failure names the host it is about and the
//! password file can be consulted per host, as libpq does.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio_postgres::config::{
    ChannelBinding, LoadBalanceHosts, SslMode, SslNegotiation, TargetSessionAttrs,
};
use tokio_postgres::Config;

use super::env::{default_socket_dir, DEFAULT_PORT};
use super::tls::{sslmode, Verify};
use super::ConnInfo;

/// One host to try: libpq's host/hostaddr/port lists, zipped.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub host: Option<String>,
    pub hostaddr: Option<String>,
    pub port: u16,
}

impl Target {
    /// The name password-file entries are matched against (libpq: host, else hostaddr).
    pub fn pgpass_host(&self) -> String {
        self.host
            .clone()
            .or_else(|| self.hostaddr.clone())
            .unwrap_or_default()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.as_deref().or(self.hostaddr.as_deref());
        match host {
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
            None => write!(f, "?:{}", self.port),
        }
    }
}

fn split(value: Option<&str>) -> Vec<&str> {
    value.map(|v| v.split(',').collect()).unwrap_or_default()
}

/// The hosts to try, in order. Errors for lists of mismatched lengths.
pub(crate) fn try_targets(info: &ConnInfo) -> Result<Vec<Target>> {
    let hosts = split(info.get("host"));
    let addrs = split(info.get("hostaddr"));
    let ports = split(info.get("port"));
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        bail!(
            "could not match {} host names to {} hostaddr values",
            hosts.len(),
            addrs.len()
        );
    }
    let n = hosts.len().max(addrs.len()).max(1);
    if ports.len() > 1 && ports.len() != n {
        bail!("could not match {} port numbers to {n} hosts", ports.len());
    }
    (0..n)
        .map(|i| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or_default();
            let port = if port.is_empty() { DEFAULT_PORT } else { port };
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| anyhow!("invalid port number: \"{port}\""))?;
            let hostaddr = addrs
                .get(i)
                .filter(|a| !a.is_empty())
                .map(|a| a.to_string());
            let host = match hosts.get(i).filter(|h| !h.is_empty()) {
                Some(h) => Some(h.to_string()),
                None if hostaddr.is_some() => None,
                None => Some(default_socket_dir().to_string()),
            };
            Ok(Target {
                host,
                hostaddr,
                port,
            })
        })
        .collect()
}

/// Infallible version for display purposes; resolve() already validated.
pub(crate) fn targets(info: &ConnInfo) -> Vec<Target> {
    try_targets(info).unwrap_or_default()
}

fn seconds(info: &ConnInfo, key: &str) -> Result<Option<Duration>> {
    info.get(key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| {
                    anyhow!("invalid integer value \"{v}\" for connection option \"{key}\"")
                })
        })
        .transpose()
}

/// The tokio-postgres configuration for one target. `password` is passed
/// separately because it may come from the password file for this host.
pub(crate) fn config(info: &ConnInfo, target: &Target, password: Option<&str>) -> Result<Config> {
    let mut cfg = Config::new();
    cfg.user(info.user())
        .dbname(info.dbname())
        .port(target.port);
    if let Some(pw) = password {
        cfg.password(pw);
    }
    if let Some(host) = &target.host {
        cfg.host(host);
    }
    if let Some(addr) = &target.hostaddr {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| anyhow!("could not parse network address \"{addr}\""))?;
        cfg.hostaddr(ip);
        // tokio-postgres takes the TLS server name from host only.
        if target.host.is_none() {
            cfg.host(addr);
        }
    }
    if let Some(options) = info.get("options") {
        cfg.options(options);
    }
    if let Some(name) = info.application_name() {
        cfg.application_name(name);
    }
    // libpq: 0 means wait forever, and anything below 2 seconds is raised to 2.
    if let Some(t) = seconds(info, "connect_timeout")?.filter(|t| !t.is_zero()) {
        cfg.connect_timeout(t.max(Duration::from_secs(2)));
    }
    match info.get("keepalives") {
        None | Some("1") => {}
        Some("0") => {
            cfg.keepalives(false);
        }
        Some(v) => bail!("invalid value \"{v}\" for connection option \"keepalives\""),
    }
    // Long COPYs sit idle on one side for minutes: detect dead peers early.
    cfg.keepalives_idle(seconds(info, "keepalives_idle")?.unwrap_or(Duration::from_secs(10)));
    if let Some(t) = seconds(info, "keepalives_interval")? {
        cfg.keepalives_interval(t);
    }
    if let Some(n) = info.get("keepalives_count") {
        let n = n.parse().map_err(|_| {
            anyhow!("invalid integer value \"{n}\" for connection option \"keepalives_count\"")
        })?;
        cfg.keepalives_retries(n);
    }
    if let Some(ms) = info.get("tcp_user_timeout") {
        let ms: u64 = ms.parse().map_err(|_| {
            anyhow!("invalid integer value \"{ms}\" for connection option \"tcp_user_timeout\"")
        })?;
        cfg.tcp_user_timeout(Duration::from_millis(ms));
    }
    cfg.target_session_attrs(match info.get("target_session_attrs") {
        None | Some("any") => TargetSessionAttrs::Any,
        Some("read-write") => TargetSessionAttrs::ReadWrite,
        Some("read-only") => TargetSessionAttrs::ReadOnly,
        Some(v) => bail!(
            "target_session_attrs \"{v}\" is not supported (use any, read-write or read-only)"
        ),
    });
    cfg.channel_binding(match info.get("channel_binding") {
        None | Some("prefer") => ChannelBinding::Prefer,
        Some("disable") => ChannelBinding::Disable,
        Some("require") => ChannelBinding::Require,
        Some(v) => bail!("invalid channel_binding value: \"{v}\""),
    });
    cfg.load_balance_hosts(LoadBalanceHosts::Disable);
    cfg.ssl_negotiation(match info.get("sslnegotiation") {
        None | Some("postgres") => SslNegotiation::Postgres,
        Some("direct") => SslNegotiation::Direct,
        Some(v) => bail!("invalid sslnegotiation value: \"{v}\""),
    });
    // libpq never tries TLS over a unix socket (the server would refuse it),
    // so PGSSLMODE=require must not break local connections.
    let unix_socket =
        target.hostaddr.is_none() && target.host.as_deref().is_some_and(|h| h.starts_with('/'));
    cfg.ssl_mode(match sslmode(info)? {
        _ if unix_socket => SslMode::Disable,
        None => SslMode::Disable,
        Some(Verify::Prefer(_)) => SslMode::Prefer,
        Some(_) => SslMode::Require,
    });
    Ok(cfg)
}

/// Keys whose security promise we cannot keep: refuse rather than ignore.
pub(crate) fn check_unsupported(info: &ConnInfo) -> Result<()> {
    for key in ["requirepeer", "require_auth", "sslpassword", "replication"] {
        if info.get(key).is_some() {
            bail!("connection option \"{key}\" is not supported by pgcopydb");
        }
    }
    if info.get("gssencmode") == Some("require") {
        bail!("gssencmode=require is not supported by pgcopydb (GSSAPI encryption)");
    }
    if info
        .get("load_balance_hosts")
        .is_some_and(|v| v != "disable")
    {
        tracing::debug!("load_balance_hosts is ignored: hosts are tried in order");
    }
    Ok(())
}
