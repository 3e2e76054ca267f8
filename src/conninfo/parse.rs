//! Parsing of libpq connection strings: `postgres://` URIs and `key=value` lists.
//!
//! The rules follow libpq's `conninfo_uri_parse` and `conninfo_parse` so that a
//! string accepted by `psql` means the same thing here, and a string libpq
//! would reject is rejected here with a similar message.

use std::ops::Range;

use anyhow::{anyhow, bail, Context, Result};
use percent_encoding::percent_decode_str;

/// Every keyword libpq (up to PostgreSQL 18) knows. Keys outside this list are
/// rejected, as libpq does, so a typo fails early instead of being silently
/// dropped or making `pg_dump` fail much later.
pub(crate) const LIBPQ_KEYWORDS: &[&str] = &[
    "application_name",
    "channel_binding",
    "client_encoding",
    "connect_timeout",
    "dbname",
    "fallback_application_name",
    "gssdelegation",
    "gssencmode",
    "gsslib",
    "host",
    "hostaddr",
    "keepalives",
    "keepalives_count",
    "keepalives_idle",
    "keepalives_interval",
    "krbsrvname",
    "load_balance_hosts",
    "max_protocol_version",
    "min_protocol_version",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_issuer",
    "oauth_scope",
    "options",
    "passfile",
    "password",
    "port",
    "replication",
    "require_auth",
    "requirepeer",
    "requiressl",
    "scram_client_key",
    "scram_server_key",
    "service",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcert",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslkey",
    "sslmode",
    "sslnegotiation",
    "sslpassword",
    "sslrootcert",
    "sslsni",
    "target_session_attrs",
    "tcp_user_timeout",
    "user",
];

/// Parsed key/value pairs in the order they appeared; a repeated key keeps
/// its last value (libpq semantics) but its first position.
pub(crate) type Params = Vec<(String, String)>;

pub(crate) fn set(params: &mut Params, key: &str, value: String) {
    match params.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => params.push((key.to_string(), value)),
    }
}

fn check_keyword(key: &str) -> Result<()> {
    if LIBPQ_KEYWORDS.contains(&key) {
        Ok(())
    } else {
        bail!("invalid connection option \"{key}\"")
    }
}

/// Parses either form. A string with neither a URI prefix nor any `=` is a bare
/// database name, which is what `psql mydb` and `pg_dump --dbname mydb` accept.
pub(crate) fn parse(s: &str) -> Result<Params> {
    let trimmed = s.trim();
    if let Some(rest) = strip_uri_prefix(trimmed) {
        parse_uri(rest).with_context(|| format!("invalid URI \"{}\"", mask_uri(trimmed)))
    } else if !trimmed.is_empty() && !trimmed.contains('=') {
        Ok(vec![("dbname".to_string(), trimmed.to_string())])
    } else {
        parse_keyvalue(trimmed)
    }
}

fn strip_uri_prefix(s: &str) -> Option<&str> {
    s.strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
}

/// Hides the passwords of a URI (user info and `password=` query parameter)
/// so it can go into an error message.
fn mask_uri(s: &str) -> String {
    let mut masked = s.to_string();
    for span in uri_password_spans(s).into_iter().rev() {
        masked.replace_range(span, "****");
    }
    masked
}

/// Byte ranges of the passwords in a connection string: a URI's user-info
/// password and `password=` query parameter, or a keyword/value string's
/// `password` value (quoted or not).
pub fn password_spans(s: &str) -> Vec<Range<usize>> {
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.get(lead..).unwrap_or_default();
    let spans = if strip_uri_prefix(trimmed).is_some() {
        uri_password_spans(trimmed)
    } else {
        keyvalue_password_spans(trimmed)
    };
    spans
        .into_iter()
        .filter(|span| !span.is_empty())
        .map(|span| span.start + lead..span.end + lead)
        .collect()
}

fn uri_password_spans(s: &str) -> Vec<Range<usize>> {
    let Some(rest) = strip_uri_prefix(s) else {
        return Vec::new();
    };
    let base = s.len() - rest.len();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut spans = Vec::new();
    if let Some(at) = authority.rfind('@') {
        if let Some(colon) = authority.get(..at).and_then(|user| user.find(':')) {
            spans.push(base + colon + 1..base + at);
        }
    }
    if let Some(question) = tail.find('?') {
        let mut at = base + authority_end + question + 1;
        // A pair without '=' after the password is most likely the rest of
        // it (a raw '&' in the password).
        let mut in_password = false;
        for pair in tail.get(question + 1..).unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some((key, _)) => {
                    in_password = is_password_key(key);
                    if in_password {
                        spans.push(at + key.len() + 1..at + pair.len());
                    }
                }
                None if in_password => spans.push(at..at + pair.len()),
                None => {}
            }
            at += pair.len() + 1;
        }
    }
    spans
}

/// The `password` values of a keyword/value string, tokenized as
/// [`parse_keyvalue`] does; stops where it would fail.
fn keyvalue_password_spans(s: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut chars = s.char_indices().peekable();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    let position = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        chars.peek().map_or(s.len(), |(i, _)| *i)
    };
    loop {
        skip_spaces(&mut chars);
        let key_start = position(&mut chars);
        while chars
            .next_if(|(_, c)| *c != '=' && !c.is_whitespace())
            .is_some()
        {}
        let key = s.get(key_start..position(&mut chars)).unwrap_or_default();
        skip_spaces(&mut chars);
        if key.is_empty() || chars.next().map(|(_, c)| c) != Some('=') {
            break;
        }
        skip_spaces(&mut chars);
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let value_start = position(&mut chars);
        let mut value_end = s.len();
        while let Some((i, c)) = chars.peek().copied() {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                value_end = i;
                break;
            }
            chars.next();
            if c == '\\' {
                chars.next();
            }
        }
        if quoted {
            chars.next();
        }
        if key == "password" {
            spans.push(value_start..value_end);
        }
    }
    spans
}

/// `password`, also percent-encoded (`pass%77ord`).
fn is_password_key(key: &str) -> bool {
    key == "password" || percent_decode_str(key).decode_utf8_lossy() == "password"
}

fn decode(s: &str) -> Result<String> {
    // libpq rejects malformed escapes; percent_decode_str would pass them through.
    let bytes = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let ok = bytes.len() > i + 2
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if !ok {
            bail!("invalid percent-encoded token \"{s}\"");
        }
    }
    let decoded = percent_decode_str(s)
        .decode_utf8()
        .with_context(|| format!("percent-encoded token \"{s}\" is not valid UTF-8"))?;
    if decoded.contains('\0') {
        bail!("forbidden value %00 in percent-encoded value \"{s}\"");
    }
    Ok(decoded.into_owned())
}

/// `[user[:password]@][host[:port][,...]][/dbname][?param=value&...]`
fn parse_uri(rest: &str) -> Result<Params> {
    let mut params = Params::new();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);

    // The last '@' ends the user info: passwords may contain '@' unencoded.
    let hosts_part = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.find(':') {
                Some(colon) => (&userinfo[..colon], Some(&userinfo[colon + 1..])),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                set(&mut params, "user", decode(user)?);
            }
            if let Some(pw) = password.filter(|p| !p.is_empty()) {
                // The decoder's messages quote their input: keep the password out.
                let pw = decode(pw).map_err(|_| anyhow!("invalid percent-encoding in password"))?;
                set(&mut params, "password", pw);
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    parse_uri_hosts(hosts_part, &mut params)?;

    let (path, query) = match tail.find('?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    if let Some(db) = path.strip_prefix('/') {
        if !db.is_empty() {
            set(&mut params, "dbname", decode(db)?);
        }
    }
    if let Some(query) = query {
        let mut after_password = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                if after_password {
                    // Most likely the rest of a password holding a raw '&':
                    // not something to quote.
                    bail!(
                        "missing key/value separator \"=\" in a URI query parameter after \
                         the password: percent-encode '&' in a password as %26"
                    );
                }
                bail!("missing key/value separator \"=\" in URI query parameter: \"{pair}\"");
            };
            if value.contains('=') {
                bail!("extra key/value separator \"=\" in URI query parameter: \"{key}\"");
            }
            let key = decode(key)?;
            after_password = key == "password";
            let value = if after_password {
                decode(value).map_err(|_| anyhow!("invalid percent-encoding in password"))?
            } else {
                decode(value)?
            };
            // JDBC-style ssl=true is accepted by libpq as sslmode=require.
            if key == "ssl" && value == "true" {
                set(&mut params, "sslmode", "require".to_string());
                continue;
            }
            if !LIBPQ_KEYWORDS.contains(&key.as_str()) {
                bail!("invalid URI query parameter: \"{key}\"");
            }
            set(&mut params, &key, value);
        }
    }
    Ok(params)
}

/// `host[:port]` entries separated by commas; IPv6 addresses in brackets.
/// Produces libpq's parallel lists `host=a,b port=1,2` (empty entries allowed).
fn parse_uri_hosts(s: &str, params: &mut Params) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    let mut rest = s;
    loop {
        let (host, after) = if let Some(v6) = rest.strip_prefix('[') {
            let close = v6
                .find(']')
                .with_context(|| format!("missing \"]\" in IPv6 host address \"{s}\""))?;
            if close == 0 {
                bail!("IPv6 host address may not be empty in \"{s}\"");
            }
            (v6[..close].to_string(), &v6[close + 1..])
        } else {
            let end = rest.find([':', ',']).unwrap_or(rest.len());
            (decode(&rest[..end])?, &rest[end..])
        };
        let (port, after) = match after.strip_prefix(':') {
            Some(p) => {
                let end = p.find(',').unwrap_or(p.len());
                (decode(&p[..end])?, &p[end..])
            }
            None => (String::new(), after),
        };
        if !after.is_empty() && !after.starts_with(',') {
            bail!(
                "unexpected character \"{}\" after host \"{host}\"",
                &after[..1]
            );
        }
        hosts.push(host);
        ports.push(port);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => break,
        }
    }
    if hosts.iter().any(|h| !h.is_empty()) {
        set(params, "host", hosts.join(","));
    }
    if ports.iter().any(|p| !p.is_empty()) {
        set(params, "port", ports.join(","));
    }
    Ok(())
}

/// `key = value key2 = 'quoted \' value'`: whitespace around `=` is allowed,
/// backslash escapes the next character in both quoted and bare values.
fn parse_keyvalue(s: &str) -> Result<Params> {
    let mut params = Params::new();
    let mut previous_key = String::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            if previous_key == "password" {
                // Most likely the rest of an unquoted password holding a space.
                bail!(
                    "missing \"=\" after the password in connection info string: quote a \
                     password holding spaces (password='...')"
                );
            }
            bail!("missing \"=\" after \"{key}\" in connection info string");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => bail!("unterminated quoted string in connection info string"),
                    Some('\'') => break,
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        check_keyword(&key)?;
        set(&mut params, &key, value);
        previous_key = key;
    }
    Ok(params)
}

/// Quotes a value for a `key=value` string when libpq would need it.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
