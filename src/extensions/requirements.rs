//! `--requirements FILE`: extension versions to create on the target instead
//! of the source's, as `list extensions --requirements --json` writes them:
//! `[{"name": "postgis", "version": "3.4.2"}, ...]`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Failure;

/// Extension name to the version to create.
pub type Pins = HashMap<String, String>;

#[derive(serde::Deserialize)]
struct Requirement {
    name: String,
    version: String,
}

/// Read a requirements file; a missing or malformed one is a bad argument
/// naming the file and the expected shape.
pub fn load(path: &Path) -> Result<Pins, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::args(format!(
            "cannot read the extension requirements file {}: {e}",
            path.display()
        ))
    })?;
    let list: Vec<Requirement> = serde_json::from_str(&text).map_err(|e| {
        Failure::args(format!(
            "{} is not an extension requirements file ({e}): expected a JSON array of \
             {{\"name\": ..., \"version\": ...}}, as `pgcopydb list extensions --requirements --json` writes",
            path.display()
        ))
    })?;
    Ok(list.into_iter().map(|r| (r.name, r.version)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listing_shape_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"[{"name": "hstore", "version": "1.7"}]"#).unwrap();
        assert_eq!(
            load(&good).unwrap().get("hstore").map(String::as_str),
            Some("1.7")
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"hstore": "1.7"}"#).unwrap();
        assert!(load(&bad).unwrap_err().message.contains("JSON array"));
        assert!(load(&dir.path().join("absent")).is_err());
    }
}
