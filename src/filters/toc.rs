//! Which entries of a `pg_restore --list` the selection leaves out.
//!
//! Most entries carry the OID of their object and are matched on it. Some
//! carry `0 0` and only a name: COMMENT, ACL and SECURITY LABEL (tagged
//! `TABLE t`, `COLUMN t.c`, `CONSTRAINT c ON t`...), SEQUENCE OWNED BY
//! (tagged with the sequence) and some others (matched on the object OID
//! alone, like MATERIALIZED VIEW DATA).

use std::collections::HashSet;

use super::select::Selection;
use crate::schema::TocEntry;
use crate::sql::quote_ident;

/// Words a COMMENT/ACL tag starts with for a relation or an index.
const RELATION_KINDS: &[&str] = &[
    "TABLE",
    "VIEW",
    "MATERIALIZED VIEW",
    "FOREIGN TABLE",
    "SEQUENCE",
    "INDEX",
];

/// Words a COMMENT tag starts with for an object that hangs off a table.
const ON_TABLE_KINDS: &[&str] = &["CONSTRAINT", "TRIGGER", "POLICY", "RULE"];

/// The selection indexed for matching restore-list entries.
pub struct TocFilter<'a> {
    sel: &'a Selection,
    oids: HashSet<u32>,
    quoted: HashSet<(&'a str, &'a str)>,
    raw: HashSet<(&'a str, &'a str)>,
    orphaned: HashSet<(&'a str, &'a str)>,
}

impl Selection {
    /// A matcher for restore-list entries.
    pub fn toc_filter(&self) -> TocFilter<'_> {
        TocFilter {
            sel: self,
            oids: self.excluded.iter().map(|(_, o)| *o).collect(),
            quoted: self
                .relations
                .iter()
                .map(|r| (r.schema.as_str(), r.quoted.as_str()))
                .collect(),
            raw: self
                .relations
                .iter()
                .map(|r| (r.schema.as_str(), r.name.as_str()))
                .collect(),
            orphaned: self
                .orphaned_sequences
                .iter()
                .map(|r| (r.schema.as_str(), r.name.as_str()))
                .collect(),
        }
    }
}

impl TocFilter<'_> {
    /// Whether the entry must be commented out of the use-list.
    pub fn skips(&self, e: &TocEntry) -> bool {
        let sel = self.sel;
        if e.cat_oid != 0 && sel.excluded.contains(&(e.cat_oid, e.obj_oid)) {
            return true;
        }
        if e.cat_oid == 0 && e.obj_oid != 0 && self.oids.contains(&e.obj_oid) {
            return true;
        }
        let schema = e.schema.as_deref().unwrap_or("");
        if sel.partial_schemas.contains(schema) && !is_sequence_entry(e) {
            return true;
        }
        match e.desc.as_str() {
            "MATERIALIZED VIEW DATA" if sel.no_data.contains(&e.obj_oid) => return true,
            "SCHEMA" if sel.schemas.contains(&e.name) => return true,
            "EXTENSION" if sel.extensions.contains(&e.name) => return true,
            "SEQUENCE OWNED BY" if self.orphaned.contains(&(schema, e.name.as_str())) => {
                return true
            }
            "COMMENT" | "ACL" | "SECURITY LABEL" => return self.tag_excluded(schema, &e.name),
            _ => {}
        }
        sel.schemas.contains(schema) || self.raw.contains(&(schema, e.name.as_str()))
    }

    /// COMMENT/ACL entries, matched on the tag naming their object.
    fn tag_excluded(&self, schema: &str, tag: &str) -> bool {
        let sel = self.sel;
        let named = |set: &std::collections::BTreeSet<String>, kind: &str| {
            tag.strip_prefix(kind).is_some_and(|n| {
                set.iter()
                    .any(|s| n == format!(" {s}") || n == format!(" {}", quote_ident(s)))
            })
        };
        if named(&sel.schemas, "SCHEMA") || named(&sel.extensions, "EXTENSION") {
            return true;
        }
        if sel.schemas.contains(schema) {
            return true;
        }
        if sel.tags.contains(&(schema.to_string(), tag.to_string())) {
            return true;
        }
        let rel_excluded = |q: &str| self.quoted.contains(&(schema, q));
        if RELATION_KINDS.iter().any(|k| {
            tag.strip_prefix(k)
                .and_then(|n| n.strip_prefix(' '))
                .is_some_and(rel_excluded)
        }) {
            return true;
        }
        if let Some(rest) = tag.strip_prefix("COLUMN ") {
            // `t.c` with either part quoted: try every dot as the separator.
            if rest
                .match_indices('.')
                .any(|(i, _)| rel_excluded(&rest[..i]))
            {
                return true;
            }
        }
        if ON_TABLE_KINDS.iter().any(|k| tag.starts_with(k)) {
            if let Some((_, rel)) = tag.rsplit_once(" ON ") {
                return rel_excluded(rel);
            }
        }
        false
    }
}

/// Entries of a sequence: its definition, value, ownership, comment, grants.
fn is_sequence_entry(e: &TocEntry) -> bool {
    match e.desc.as_str() {
        "SEQUENCE" | "SEQUENCE SET" | "SEQUENCE OWNED BY" => true,
        "COMMENT" | "ACL" | "SECURITY LABEL" => e.name.starts_with("SEQUENCE "),
        _ => false,
    }
}
