//! Parsing `pg_restore --list` output and writing `--use-list` files.
//!
//! Each entry line is `dumpId; catOid objOid DESC SCHEMA NAME OWNER`, where
//! every field after the oids is printed raw, separated by single spaces:
//! - DESC may hold spaces (`FK CONSTRAINT`, `MATERIALIZED VIEW DATA`), so it
//!   is matched against the known descriptions, longest first;
//! - SCHEMA is `-` when the object has none; a schema name with spaces is
//!   recognised when the archive also holds its `SCHEMA` entry;
//! - NAME may hold spaces, and pg_restore (11+) prints a newline inside a
//!   name as a space, so names are not reversible to identifiers;
//! - OWNER is the last word, or empty (the line then ends with a space).
//!
//! The split of SCHEMA/NAME/OWNER is therefore best effort; the reliable
//! keys are the dump id (all pg_restore reads back from a use-list) and the
//! catalog/object oids.
//!
//! With `--verbose`, pg_restore follows an entry that has dependencies with
//! `;\tdepends on: ID ID ...`: the dump ids the archive's TOC records for it
//! (pg_dump's own dependency graph, the one a parallel pg_restore schedules
//! by). They are kept in [`TocEntry::depends_on`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// One line of `pg_restore --list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub dump_id: u32,
    pub cat_oid: u32,
    pub obj_oid: u32,
    /// "TABLE", "INDEX", "FK CONSTRAINT", "COMMENT", "ACL", …
    pub desc: String,
    pub schema: Option<String>,
    /// The tag: `a_pkey`, `f()`, or for COMMENT/ACL entries `TABLE a`.
    pub name: String,
    pub owner: Option<String>,
    /// The line as printed (continuation lines joined with a space).
    pub line: String,
    /// The dump ids this entry depends on (empty without `--verbose`).
    pub depends_on: Vec<u32>,
}

#[cfg(test)]
impl TocEntry {
    /// An entry of the given kind and tag, the rest empty (unit tests).
    pub fn named(desc: &str, name: &str) -> TocEntry {
        TocEntry {
            dump_id: 1,
            cat_oid: 0,
            obj_oid: 0,
            desc: desc.into(),
            schema: None,
            name: name.into(),
            owner: None,
            line: String::new(),
            depends_on: Vec::new(),
        }
    }
}

/// Entry descriptions pg_dump writes (9.x to 18). Unknown ones fall back to
/// the first word, so a new pg_dump still parses, with a worse name split.
const DESCS: &[&str] = &[
    "ACCESS METHOD",
    "ACL",
    "AGGREGATE",
    "BLOB",
    "BLOB METADATA",
    "BLOBS",
    "CAST",
    "CHECK CONSTRAINT",
    "COLLATION",
    "COMMENT",
    "CONSTRAINT",
    "CONVERSION",
    "DATABASE",
    "DATABASE PROPERTIES",
    "DEFAULT",
    "DEFAULT ACL",
    "DOMAIN",
    "ENCODING",
    "EVENT TRIGGER",
    "EXTENSION",
    "FK CONSTRAINT",
    "FOREIGN DATA WRAPPER",
    "FOREIGN SERVER",
    "FOREIGN TABLE",
    "FUNCTION",
    "INDEX",
    "INDEX ATTACH",
    "LARGE OBJECT",
    "LARGE OBJECTS",
    "MATERIALIZED VIEW",
    "MATERIALIZED VIEW DATA",
    "OPERATOR",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "POLICY",
    "PROCEDURAL LANGUAGE",
    "PROCEDURE",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "ROW SECURITY",
    "RULE",
    "SCHEMA",
    "SEARCHPATH",
    "SECURITY LABEL",
    "SEQUENCE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SERVER",
    "SHELL TYPE",
    "STATISTICS",
    "STATISTICS DATA",
    "STDSTRINGS",
    "SUBSCRIPTION",
    "SUBSCRIPTION TABLE",
    "TABLE",
    "TABLE ATTACH",
    "TABLE DATA",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH PARSER",
    "TEXT SEARCH TEMPLATE",
    "TRANSFORM",
    "TRIGGER",
    "TYPE",
    "USER MAPPING",
    "VIEW",
];

/// Parses the whole output of `pg_restore --list`.
pub fn parse_list(output: &str) -> Vec<TocEntry> {
    parse_list_keeping(output, |_| true)
}

/// Parses the output of `pg_restore --list` entry by entry, and keeps those
/// `keep` (called once on each, with its dependencies) says to keep: what
/// is not kept is never held all at once (a hundred thousand large
/// objects' entries were tens of megabytes).
pub fn parse_list_keeping(output: &str, mut keep: impl FnMut(&TocEntry) -> bool) -> Vec<TocEntry> {
    // Schema names come from the archive's own SCHEMA entries, so that a
    // schema with a space in its name is still split correctly elsewhere.
    let mut schemas: Vec<String> = vec!["public".into(), "pg_catalog".into()];
    for line in logical_lines(output) {
        let Line::Entry(text) = line else { continue };
        if !text.contains(" SCHEMA ") {
            continue;
        }
        if let Some(e) = parse_line(text, &[]) {
            if e.desc == "SCHEMA" {
                schemas.push(e.name);
            }
        }
    }
    // Longest first, so "my app" wins over "my".
    schemas.sort_by_key(|s| std::cmp::Reverse(s.len()));

    let mut entries: Vec<TocEntry> = Vec::new();
    // Dependencies belong to the entry line just above, if it parsed: an
    // entry is judged once the line after it is read.
    let mut current: Option<TocEntry> = None;
    let mut judge = |entry: Option<TocEntry>, entries: &mut Vec<TocEntry>| {
        entries.extend(entry.filter(|e| keep(e)));
    };
    for line in logical_lines(output) {
        match line {
            Line::Entry(text) => {
                let previous = std::mem::replace(&mut current, parse_line(text, &schemas));
                judge(previous, &mut entries);
            }
            Line::DependsOn(ids) => {
                if let Some(entry) = current.as_mut() {
                    entry.depends_on = ids;
                }
            }
        }
    }
    judge(current, &mut entries);
    // Kept through the restore: no spare room.
    entries.shrink_to_fit();
    entries
}

/// What each entry of a `pg_restore --list --verbose` output depends on,
/// by dump id: only the entries that depend on something (a listing's
/// entries are mostly large objects and others that depend on nothing).
pub fn parse_dependencies(output: &str) -> HashMap<u32, Vec<u32>> {
    let mut dependencies = HashMap::new();
    let mut last: Option<u32> = None;
    for line in logical_lines(output) {
        match line {
            Line::Entry(text) => last = text.split_once(';').and_then(|(id, _)| id.parse().ok()),
            Line::DependsOn(ids) if !ids.is_empty() => {
                if let Some(id) = last {
                    dependencies.insert(id, ids);
                }
            }
            Line::DependsOn(_) => {}
        }
    }
    dependencies
}

enum Line<'a> {
    Entry(Cow<'a, str>),
    DependsOn(Vec<u32>),
}

/// The entry and `depends on` lines of a listing, one at a time, borrowed
/// from it. Entry lines start with `<digits>;`; any other non-comment line
/// can only be the rest of a name holding a raw newline (pg_restore before
/// 11), joined to the entry line before it with a space.
fn logical_lines(output: &str) -> impl Iterator<Item = Line<'_>> {
    let mut raw = output.lines();
    // The last entry line, which continuation lines may still extend.
    let mut pending: Option<Cow<'_, str>> = None;
    let mut queued: Option<Line<'_>> = None;
    std::iter::from_fn(move || {
        if let Some(line) = queued.take() {
            return Some(line);
        }
        loop {
            let Some(line) = raw.next() else {
                return pending.take().map(Line::Entry);
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            if is_entry_start(line) {
                if let Some(previous) = pending.replace(Cow::Borrowed(line)) {
                    return Some(Line::Entry(previous));
                }
            } else if let Some(ids) = line.strip_prefix(";\tdepends on:") {
                let ids = ids.split_whitespace().filter_map(|id| id.parse().ok());
                let depends = Line::DependsOn(ids.collect());
                match pending.take() {
                    Some(previous) => {
                        queued = Some(depends);
                        return Some(Line::Entry(previous));
                    }
                    None => return Some(depends),
                }
            } else if line.starts_with(';') || line.is_empty() {
                continue;
            } else if let Some(entry) = pending.as_mut() {
                let entry = entry.to_mut();
                entry.push(' ');
                entry.push_str(line);
            }
        }
    })
}

fn is_entry_start(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && line.as_bytes().get(digits) == Some(&b';')
}

fn parse_line(line: Cow<'_, str>, schemas: &[String]) -> Option<TocEntry> {
    let (id, rest) = line.split_once("; ")?;
    let (cat, rest) = rest.split_once(' ')?;
    let (obj, rest) = rest.split_once(' ')?;

    let desc = DESCS
        .iter()
        .filter(|d| rest.starts_with(*d) && rest[d.len()..].starts_with(' '))
        .max_by_key(|d| d.len())
        .map(|d| d.to_string())
        .unwrap_or_else(|| rest.split(' ').next().unwrap_or_default().to_string());
    let rest = rest.get(desc.len() + 1..).unwrap_or_default();

    let (schema, rest) = if let Some(r) = rest.strip_prefix("- ") {
        (None, r)
    } else if let Some(s) = schemas
        .iter()
        .find(|s| rest.starts_with(s.as_str()) && rest[s.len()..].starts_with(' '))
    {
        (Some(s.clone()), &rest[s.len() + 1..])
    } else {
        let (s, r) = rest.split_once(' ').unwrap_or((rest, ""));
        (Some(s.to_string()), r)
    };

    // An empty owner leaves a trailing space: "NAME ".
    let (name, owner) = match rest.rsplit_once(' ') {
        Some((name, "")) => (name, None),
        Some((name, owner)) => (name, Some(owner.to_string())),
        None => (rest, None),
    };

    Some(TocEntry {
        dump_id: id.parse().ok()?,
        cat_oid: cat.parse().ok()?,
        obj_oid: obj.parse().ok()?,
        desc,
        schema,
        name: name.to_string(),
        owner,
        depends_on: Vec::new(),
        line: line.into_owned(),
    })
}

/// Writes a `--use-list` file: every entry in archive order, the skipped ones
/// commented out with a leading `;` so the file still documents what was
/// left out. Returns how many entries are kept.
pub fn write_use_list(
    entries: &[TocEntry],
    skip: &dyn Fn(&TocEntry) -> bool,
    path: &Path,
) -> std::io::Result<usize> {
    let mut list = UseList::create(path)?;
    for e in entries {
        list.push(e, skip(e))?;
    }
    list.finish()
}

/// A `--use-list` file written one entry at a time (see [`write_use_list`]),
/// for a listing parsed as it is written.
pub struct UseList {
    out: std::io::BufWriter<std::fs::File>,
    kept: usize,
}

impl UseList {
    pub fn create(path: &Path) -> std::io::Result<UseList> {
        let file = crate::workdir::private::open_private_file(path)?;
        Ok(UseList {
            out: std::io::BufWriter::new(file),
            kept: 0,
        })
    }

    pub fn push(&mut self, e: &TocEntry, skipped: bool) -> std::io::Result<()> {
        if skipped {
            writeln!(self.out, ";{}", e.line)
        } else {
            self.kept += 1;
            writeln!(self.out, "{}", e.line)
        }
    }

    /// Flushed and synced; how many entries are kept.
    pub fn finish(self) -> std::io::Result<usize> {
        self.out
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(self.kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed output of pg_restore 15 for a real archive.
    const LISTING: &str = r#";
; Archive created at 2026-11-25 20:48:09 UTC
;     dbname: src
;
; Selected TOC Entries:
;
6; 2615 16386 SCHEMA - app postgres
7; 2615 16390 SCHEMA - my app postgres
221; 1255 16409 FUNCTION app f() postgres
215; 1259 16387 TABLE app a postgres
3382; 0 0 COMMENT app TABLE a postgres
3383; 0 0 ACL app TABLE a postgres
218; 1259 16411 TABLE app we"ird name postgres
230; 1259 16412 TABLE my app t some owner
3373; 2613 16421 BLOB - 16421 postgres
3222; 2606 16399 FK CONSTRAINT app b b_a_id_fkey postgres
;	depends on: 215 218
2053; 826 16420 DEFAULT ACL app DEFAULT PRIVILEGES FOR TABLES postgres
3371; 0 16415 MATERIALIZED VIEW DATA app mv postgres
3400; 0 0 ENCODING - ENCODING 
3401; 1259 16500 TABLE app old
name postgres
"#;

    fn by_id(entries: &[TocEntry], id: u32) -> &TocEntry {
        entries.iter().find(|e| e.dump_id == id).unwrap()
    }

    #[test]
    fn parses_every_line_form() {
        let entries = parse_list(LISTING);
        assert_eq!(entries.len(), 14);

        let schema = by_id(&entries, 6);
        assert_eq!((schema.cat_oid, schema.obj_oid), (2615, 16386));
        assert_eq!(schema.desc, "SCHEMA");
        assert_eq!(schema.schema, None);
        assert_eq!(schema.name, "app");
        assert_eq!(schema.owner.as_deref(), Some("postgres"));

        let comment = by_id(&entries, 3382);
        assert_eq!(comment.desc, "COMMENT");
        assert_eq!(comment.schema.as_deref(), Some("app"));
        assert_eq!(comment.name, "TABLE a");

        assert_eq!(by_id(&entries, 218).name, "we\"ird name");
        assert_eq!(by_id(&entries, 3222).desc, "FK CONSTRAINT");
        assert_eq!(by_id(&entries, 3222).name, "b b_a_id_fkey");

        let dacl = by_id(&entries, 2053);
        assert_eq!(dacl.desc, "DEFAULT ACL");
        assert_eq!(dacl.name, "DEFAULT PRIVILEGES FOR TABLES");

        let mvd = by_id(&entries, 3371);
        assert_eq!(mvd.desc, "MATERIALIZED VIEW DATA");
        assert_eq!(mvd.name, "mv");

        let blob = by_id(&entries, 3373);
        assert_eq!((blob.desc.as_str(), blob.schema.as_deref()), ("BLOB", None));
    }

    #[test]
    fn dependencies_of_the_verbose_listing_go_to_their_entry() {
        let entries = parse_list(LISTING);
        assert_eq!(by_id(&entries, 3222).depends_on, [215, 218]);
        assert!(by_id(&entries, 3373).depends_on.is_empty());
        assert!(by_id(&entries, 2053).depends_on.is_empty());
    }

    /// Each entry is judged once, with its dependencies; the verbose
    /// listing's dependencies are kept only for entries that have some.
    #[test]
    fn a_kept_part_of_the_listing_has_its_dependencies() {
        let mut seen = Vec::new();
        let entries = parse_list_keeping(LISTING, |e| {
            seen.push(e.dump_id);
            e.desc != "BLOB"
        });
        assert_eq!(seen.len(), 14);
        assert_eq!(entries.len(), 13);
        assert!(entries.iter().all(|e| e.dump_id != 3373));
        assert_eq!(by_id(&entries, 3222).depends_on, [215, 218]);
        assert_eq!(by_id(&entries, 3401).name, "old name");
        let dependencies = parse_dependencies(LISTING);
        assert_eq!(dependencies, HashMap::from([(3222, vec![215, 218])]));
    }

    #[test]
    fn schema_with_space_is_recognised() {
        let entries = parse_list(LISTING);
        let t = by_id(&entries, 230);
        assert_eq!(t.schema.as_deref(), Some("my app"));
        // Owner is the last word: a role with a space in its name cannot be
        // told apart from the object name.
        assert_eq!(t.name, "t some");
        assert_eq!(t.owner.as_deref(), Some("owner"));
    }

    #[test]
    fn empty_owner_and_continuation_lines() {
        let entries = parse_list(LISTING);
        let enc = by_id(&entries, 3400);
        assert_eq!(
            (enc.name.as_str(), enc.owner.as_deref()),
            ("ENCODING", None)
        );

        let old = by_id(&entries, 3401);
        assert_eq!(old.name, "old name");
        assert!(!old.line.contains('\n'));
    }

    #[test]
    fn unknown_desc_falls_back_to_first_word() {
        let entries = parse_list("9; 1 2 GADGET app thing postgres\n");
        assert_eq!(entries[0].desc, "GADGET");
        assert_eq!(entries[0].schema.as_deref(), Some("app"));
        assert_eq!(entries[0].name, "thing");
    }

    #[test]
    fn use_list_comments_out_skipped_entries() {
        let entries = parse_list(LISTING);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.list");
        let kept = write_use_list(&entries, &|e| e.desc == "ACL", &path).unwrap();
        assert_eq!(kept, entries.len() - 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\n;3383; 0 0 ACL app TABLE a postgres\n"),
            "{text}"
        );
        assert!(text.starts_with("6; 2615 16386 SCHEMA - app postgres\n"));
    }
}
