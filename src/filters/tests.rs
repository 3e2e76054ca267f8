use std::collections::BTreeSet;

use super::depends::{closure, Edge, PG_ATTRDEF, PG_CLASS};
use super::*;
use crate::schema::parse_list;

fn parse_ok(text: &str) -> Filters {
    Filters::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> String {
    Filters::parse(text).expect_err("should fail")
}

#[test]
fn keys_comments_and_values() {
    let f = parse_ok(
        "; a comment\n# another\n\n[exclude-table]\npublic.foo\n  Public.Bar = ignored\n\
         app.t ; trailing comment\n[exclude-schema]\ntmp\n",
    );
    assert!(f.table_excluded("public", "foo", 'r'));
    // Unquoted names fold to lower case, as in SQL.
    assert!(f.table_excluded("public", "bar", 'r'));
    assert!(!f.table_excluded("public", "Bar", 'r'));
    assert!(f.table_excluded("app", "t", 'r'));
    assert!(f.schema_excluded("tmp"));
    assert!(f.table_excluded("tmp", "anything", 'v'));
    assert!(!f.table_excluded("public", "other", 'r'));
    assert_eq!(
        f.describe(),
        "[exclude-schema] tmp [exclude-table] app.t, public.bar, public.foo"
    );
}

#[test]
fn quoted_names_keep_case_dots_and_quotes() {
    let f = parse_ok("[exclude-table]\n\"My Schema\".\"Tab.le\"\n\"a\"\"b\".\"x;y#z=w\"\n");
    assert!(f.table_excluded("My Schema", "Tab.le", 'r'));
    assert!(!f.table_excluded("my schema", "tab.le", 'r'));
    assert!(f.table_excluded("a\"b", "x;y#z=w", 'r'));
}

#[test]
fn regex_parts() {
    let f = parse_ok(
        "[exclude-table]\npublic.~/^log_2024_\\d+$/\n~/^audit/.~/./\n[exclude-schema]\n~/^tmp_/\n\
         [exclude-index]\npublic.~/a\\/b/\n",
    );
    assert!(f.table_excluded("public", "log_2024_01", 'r'));
    assert!(!f.table_excluded("public", "log_2024", 'r'));
    assert!(!f.table_excluded("app", "log_2024_01", 'r'));
    assert!(f.table_excluded("audit_x", "anything", 'r'));
    assert!(f.schema_excluded("tmp_1"));
    assert!(!f.schema_excluded("xtmp_1"));
    // `\/` stands for a slash inside the regex.
    assert!(f.index_excluded("public", "xa/by"));
}

#[test]
fn include_only_sections() {
    let f = parse_ok(
        "[include-only-table]\npublic.a\npublic.~/^mv_/\n[include-only-schema]\npublic\napp\n",
    );
    assert!(!f.table_excluded("public", "a", 'r'));
    assert!(f.table_excluded("public", "b", 'r'));
    // Materialized views count as tables; views and sequences follow what they depend on.
    assert!(!f.table_excluded("public", "mv_x", 'm'));
    assert!(f.table_excluded("public", "other_mv", 'm'));
    assert!(!f.table_excluded("public", "v", 'v'));
    assert!(!f.table_excluded("public", "s", 'S'));
    assert!(f.schema_excluded("other"));
    assert!(!f.schema_excluded("app"));

    let e = parse_ok("[include-only-extension]\nhstore\n");
    assert!(!e.extension_excluded("hstore"));
    assert!(e.extension_excluded("citext"));
}

#[test]
fn empty_filter_includes_everything() {
    let f = parse_ok("; nothing\n");
    assert!(f.is_empty());
    assert!(!f.schema_excluded("public"));
    assert!(!f.table_excluded("public", "t", 'r'));
    assert!(!f.extension_excluded("x"));
    assert_eq!(f.describe(), "");
}

#[test]
fn errors_name_the_line() {
    assert!(
        parse_err("[exclude-tables]\na.b\n").contains("line 1: unknown section [exclude-tables]")
    );
    assert!(parse_err("a.b\n").contains("line 1"));
    let e = parse_err("[exclude-table]\npublic.\"unterminated\n");
    assert!(
        e.contains("line 2") && e.contains("closing double quote"),
        "{e}"
    );
    let e = parse_err("[exclude-table]\npublic.~/(/\n");
    assert!(
        e.contains("line 2") && e.contains("invalid regular expression"),
        "{e}"
    );
    let e = parse_err("[exclude-table]\nfoo\n");
    assert!(e.contains("schema-qualified"), "{e}");
    let e = parse_err("[exclude-schema]\na.b\n");
    assert!(e.contains("single name"), "{e}");
    let e = parse_err("[exclude-table]\npublic.my table\n");
    assert!(e.contains("unexpected"), "{e}");
    let e = parse_err("[exclude-table]\npublic..t\n");
    assert!(e.contains("missing"), "{e}");
    assert!(parse_err("[exclude-table\n").contains("closing ]"));
}

#[test]
fn invalid_combinations() {
    for (a, b) in [
        ("include-only-table", "exclude-table"),
        ("include-only-table", "exclude-schema"),
        ("include-only-schema", "exclude-schema"),
        ("include-only-extension", "exclude-extension"),
    ] {
        let one = |s: &str| if s.contains("table") { "public.t" } else { "x" };
        let text = format!("[{a}]\n{}\n[{b}]\n{}\n", one(a), one(b));
        let e = parse_err(&text);
        assert!(e.contains(a) && e.contains(b), "{e}");
    }
    // Allowed together, as in the original's tests.
    parse_ok("[include-only-schema]\npublic\n[include-only-table]\npublic.t\n");
}

#[test]
fn unmatched_entries_are_reported() {
    let f = parse_ok("[exclude-table]\npublic.t\npublic.nope\n[exclude-extension]\nhstore\n");
    let names = SourceNames {
        schemas: vec!["public".into()],
        relations: vec![("public".into(), "t".into())],
        indexes: vec![],
        extensions: vec![],
    };
    assert_eq!(
        f.unmatched(&names, 10),
        (
            vec![
                "[exclude-table] public.nope".to_string(),
                "[exclude-extension] hstore".to_string()
            ],
            2
        )
    );
    assert_eq!(f.unmatched(&names, 1).1, 2);
}

#[test]
fn many_names_a_byte_order_mark_and_a_short_describe() {
    let mut text = String::from("\u{feff}[exclude-table]\npublic.~/^tmp_/\n");
    for i in 0..1000 {
        text.push_str(&format!("app.\"T {i}\"\n"));
    }
    let f = parse_ok(&text);
    assert!(f.table_excluded("app", "T 999", 'r'));
    assert!(f.table_excluded("public", "tmp_x", 'r'));
    assert!(!f.table_excluded("app", "t 999", 'r'));
    let d = f.describe();
    assert!(
        d.starts_with("[exclude-table] 1001 entries, digest "),
        "{d}"
    );
    assert_ne!(d, parse_ok(&text.replace("T 999", "T 9999")).describe());
    assert_eq!(
        cap(&"é".repeat(600)).len(),
        1000 + "… (200 bytes cut)".len()
    );
}

#[test]
fn owned_sequence_survives_when_a_kept_default_uses_it() {
    // seq 10 owned by table 1 (excluded); default 20 of kept table 2 uses it.
    // seq 11 owned by table 1, used only by table 1's default 21.
    let edges = [
        edge((PG_CLASS, 10), (PG_CLASS, 1), 'a'),
        edge((PG_ATTRDEF, 20), (PG_CLASS, 10), 'n'),
        edge((PG_ATTRDEF, 20), (PG_CLASS, 2), 'a'),
        edge((PG_CLASS, 11), (PG_CLASS, 1), 'a'),
        edge((PG_ATTRDEF, 21), (PG_CLASS, 11), 'n'),
        edge((PG_ATTRDEF, 21), (PG_CLASS, 1), 'a'),
        // A view's rule on table 1, internal to view 30.
        edge((2618, 31), (PG_CLASS, 1), 'n'),
        edge((2618, 31), (PG_CLASS, 30), 'i'),
    ];
    let seeds = BTreeSet::from([(PG_CLASS, 1)]);
    let c = closure(&edges, &seeds, &BTreeSet::from([10, 11]));
    assert!(c.excluded.contains(&(PG_CLASS, 11)));
    assert!(!c.excluded.contains(&(PG_CLASS, 10)));
    assert!(!c.excluded.contains(&(PG_CLASS, 2)));
    assert!(c.excluded.contains(&(PG_CLASS, 30)), "the view goes too");
    assert_eq!(c.kept_owned_sequences, BTreeSet::from([10]));
}

#[test]
fn sequences_follow_the_tables_that_need_them() {
    // seq 10: not owned, default 20 of excluded table 1 only -> goes.
    // seq 11: named by the filters (a seed), owned by kept table 2 -> kept.
    // seq 12: standalone, named -> goes; seq 13: standalone -> kept.
    // seq 14: in excluded schema 50, default 21 of kept table 2 -> kept.
    // seq 15: identity of excluded table 1 -> goes.
    let edges = [
        edge((PG_ATTRDEF, 20), (PG_CLASS, 10), 'n'),
        edge((PG_ATTRDEF, 20), (PG_CLASS, 1), 'a'),
        edge((PG_CLASS, 11), (PG_CLASS, 2), 'a'),
        edge((PG_CLASS, 14), (2615, 50), 'n'),
        edge((PG_ATTRDEF, 21), (PG_CLASS, 14), 'n'),
        edge((PG_ATTRDEF, 21), (PG_CLASS, 2), 'a'),
        edge((PG_CLASS, 15), (PG_CLASS, 1), 'i'),
    ];
    let seeds = BTreeSet::from([(PG_CLASS, 1), (PG_CLASS, 11), (PG_CLASS, 12), (2615, 50)]);
    let c = closure(&edges, &seeds, &BTreeSet::from([10, 11, 12, 13, 14, 15]));
    let gone: Vec<u32> = (10..=15)
        .filter(|s| c.excluded.contains(&(PG_CLASS, *s)))
        .collect();
    assert_eq!(gone, [10, 12, 15]);
    assert!(!c.excluded.contains(&(PG_ATTRDEF, 21)));
    assert!(c.kept_owned_sequences.is_empty());
}

fn edge(dependent: (u32, u32), referenced: (u32, u32), deptype: char) -> Edge {
    Edge {
        dependent,
        referenced,
        deptype,
    }
}

#[test]
fn restore_list_entries_by_oid_and_by_tag() {
    let mut sel = Selection::default();
    sel.excluded.insert((1259, 100));
    sel.relations.insert(RelName {
        schema: "app".into(),
        name: "Big T".into(),
        quoted: "\"Big T\"".into(),
    });
    sel.schemas.insert("tmp".into());
    sel.extensions.insert("hstore".into());
    sel.no_data.insert(200);
    let list = parse_list(
        "1; 1259 100 TABLE app Big T postgres\n\
         2; 0 0 COMMENT app TABLE \"Big T\" postgres\n\
         3; 0 0 ACL app COLUMN \"Big T\".x postgres\n\
         4; 0 0 COMMENT app CONSTRAINT c ON \"Big T\" postgres\n\
         5; 1259 101 TABLE app kept postgres\n\
         6; 0 0 COMMENT app TABLE kept postgres\n\
         7; 2615 300 SCHEMA - tmp postgres\n\
         8; 1255 301 FUNCTION tmp f() postgres\n\
         9; 0 0 COMMENT - SCHEMA tmp postgres\n\
         10; 3079 302 EXTENSION - hstore \n\
         11; 0 0 COMMENT - EXTENSION hstore \n\
         12; 0 200 MATERIALIZED VIEW DATA app mv postgres\n\
         13; 0 0 SEQUENCE OWNED BY app Big T postgres\n",
    );
    let filter = sel.toc_filter();
    let skipped: Vec<u32> = list
        .iter()
        .filter(|e| filter.skips(e))
        .map(|e| e.dump_id)
        .collect();
    assert_eq!(skipped, vec![1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13]);
}
