//! Connection service files (`service=name` / PGSERVICE), as libpq reads them:
//! the user file (PGSERVICEFILE or ~/.pg_service.conf) first, then the
//! system one (PGSYSCONFDIR/pg_service.conf). Service values fill only keys
//! the connection string did not set, and come before PG* variables.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::parse::{set, Params, LIBPQ_KEYWORDS};

/// Debian builds libpq with this sysconfdir.
const DEBIAN_SYSCONFDIR: &str = "/etc/postgresql-common";

pub(crate) fn apply_service(
    params: &mut Params,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<()> {
    let name = match params.iter().find(|(k, _)| k == "service") {
        Some((_, v)) => v.clone(),
        None => match env("PGSERVICE").filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => return Ok(()),
        },
    };
    let user_file = env("PGSERVICEFILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".pg_service.conf")));
    let sys_dir = env("PGSYSCONFDIR").unwrap_or_else(|| DEBIAN_SYSCONFDIR.to_string());
    let sys_file = Path::new(&sys_dir).join("pg_service.conf");

    for file in user_file.iter().chain(std::iter::once(&sys_file)) {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => bail!("could not read service file \"{}\": {e}", file.display()),
        };
        let found = section(&text, &name)
            .with_context(|| format!("in service file \"{}\"", file.display()))?;
        if let Some(entries) = found {
            for (key, value) in entries {
                if !params.iter().any(|(k, _)| *k == key) {
                    set(params, &key, value);
                }
            }
            return Ok(());
        }
    }
    bail!("definition of service \"{name}\" not found")
}

/// The `key=value` lines of section `[name]`, or None when there is none.
fn section(text: &str, name: &str) -> Result<Option<Vec<(String, String)>>> {
    let mut inside = false;
    let mut found = None::<Vec<(String, String)>>;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            if found.is_some() {
                break;
            }
            inside = header.trim_end_matches(']') == name;
            if inside {
                found = Some(Vec::new());
            }
            continue;
        }
        if !inside {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("syntax error in line {}", n + 1);
        };
        let key = key.trim();
        if key == "service" {
            bail!(
                "nested service specifications not supported (line {})",
                n + 1
            );
        }
        if !LIBPQ_KEYWORDS.contains(&key) {
            bail!("invalid connection option \"{key}\" (line {})", n + 1);
        }
        if let Some(entries) = found.as_mut() {
            entries.push((key.to_string(), value.trim().to_string()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_section_fills_unset_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.conf");
        std::fs::write(
            &file,
            "# comment\n[other]\nhost=nope\n[mine]\nhost = db.example\nport=6543\ndbname=app\n",
        )
        .unwrap();
        let path = file.to_string_lossy().into_owned();
        let env = move |k: &str| (k == "PGSERVICEFILE").then(|| path.clone());
        let mut params = vec![
            ("service".to_string(), "mine".to_string()),
            ("dbname".to_string(), "explicit".to_string()),
        ];
        apply_service(&mut params, &env, None).unwrap();
        let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        assert_eq!(get("host"), Some("db.example"));
        assert_eq!(get("port"), Some("6543"));
        assert_eq!(get("dbname"), Some("explicit"));

        let mut missing = vec![("service".to_string(), "absent".to_string())];
        let err = apply_service(&mut missing, &env, None).unwrap_err();
        assert!(err.to_string().contains("\"absent\" not found"), "{err}");
    }
}
