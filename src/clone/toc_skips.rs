//! `--skip-extensions`, `--skip-ext-comments` and `--skip-collations`: the
//! restore-list entries a non-superuser clone leaves to whoever prepared the
//! target (a superuser's `copy extensions`, collations made beforehand).

use std::collections::HashSet;

use anyhow::Result;
use tokio_postgres::Client;

use crate::schema::TocEntry;
use crate::sql::quote_ident;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipOptions {
    /// No EXTENSION entries, nor the schemas extensions live in on the target.
    pub extensions: bool,
    /// No `COMMENT ON EXTENSION` (only an extension's owner may comment it).
    pub ext_comments: bool,
    /// No COLLATION entries: they are expected to exist on the target.
    pub collations: bool,
}

/// The options with what they need to know of the target.
pub struct TocSkips {
    opts: SkipOptions,
    /// Schemas holding an extension on the target that the restoring role
    /// does not own: their CREATE, COMMENT and GRANTs would fail for it.
    extension_schemas: HashSet<String>,
}

impl TocSkips {
    /// For the pre-data list; reads the target's extension schemas when
    /// `--skip-extensions` asks for them.
    pub async fn for_target(opts: SkipOptions, target: &Client) -> Result<TocSkips> {
        let mut extension_schemas = HashSet::new();
        if opts.extensions {
            // `public` keeps its entry (see write_pre_list): it only carries
            // the schema's owner, ACL and comment, which the clone restores.
            for r in target
                .query(
                    "SELECT DISTINCT n.nspname::text FROM pg_extension e \
                       JOIN pg_namespace n ON n.oid = e.extnamespace \
                      WHERE n.nspname NOT IN ('public', 'pg_catalog') \
                        AND NOT pg_has_role(n.nspowner, 'USAGE')",
                    &[],
                )
                .await?
            {
                extension_schemas.insert(r.try_get(0)?);
            }
        }
        Ok(TocSkips {
            opts,
            extension_schemas,
        })
    }

    /// For lists that hold no schemas (post-data).
    pub fn without_target(opts: SkipOptions) -> TocSkips {
        TocSkips {
            opts,
            extension_schemas: HashSet::new(),
        }
    }

    /// Whether the entry is commented out of the use-list.
    pub fn skips(&self, e: &TocEntry) -> bool {
        let o = &self.opts;
        let tag = e.name.as_str();
        match e.desc.as_str() {
            "EXTENSION" => o.extensions,
            "COLLATION" => o.collations,
            "SCHEMA" => self.extension_schemas.contains(tag),
            "COMMENT" if tag.starts_with("EXTENSION ") => o.extensions || o.ext_comments,
            "COMMENT" if tag.starts_with("COLLATION ") => o.collations,
            "COMMENT" | "ACL" | "SECURITY LABEL" => tag.strip_prefix("SCHEMA ").is_some_and(|s| {
                self.extension_schemas
                    .iter()
                    .any(|n| s == n || s == quote_ident(n))
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(desc: &str, name: &str) -> TocEntry {
        TocEntry::named(desc, name)
    }

    #[test]
    fn each_option_skips_its_entries() {
        let none = TocSkips::without_target(SkipOptions::default());
        let comments = TocSkips::without_target(SkipOptions {
            ext_comments: true,
            ..Default::default()
        });
        let mut all = TocSkips::without_target(SkipOptions {
            extensions: true,
            ext_comments: true,
            collations: true,
        });
        all.extension_schemas.insert("Ext".into());
        let cases = [
            entry("EXTENSION", "hstore"),
            entry("COMMENT", "EXTENSION hstore"),
            entry("COLLATION", "fr"),
            entry("COMMENT", "COLLATION fr"),
            entry("SCHEMA", "Ext"),
            entry("ACL", "SCHEMA \"Ext\""),
            entry("TABLE", "t"),
        ];
        let skipped = |s: &TocSkips| cases.iter().map(|e| s.skips(e)).collect::<Vec<_>>();
        assert_eq!(skipped(&none), [false; 7]);
        assert_eq!(
            skipped(&comments),
            [false, true, false, false, false, false, false]
        );
        assert_eq!(skipped(&all), [true, true, true, true, true, true, false]);
    }
}
