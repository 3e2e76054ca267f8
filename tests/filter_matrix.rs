//! Filter combinations against sequences and partitions: every clone
//! restores (exit 0) and the target holds exactly the tables and sequences
//! the filter selects, sequences with the source's values.
//!
//! The expected sets are computed here from the source catalog and the rule
//! the README states, not by the tool: tables by name (a case's predicate);
//! a sequence is kept when a kept table owns it (serial, identity) or uses
//! it as a column default, wherever it lives, or — standalone — when its
//! schema is kept and the table sections do not name it.

use crate::support;

use std::collections::BTreeSet;

use crate::support::{clone_between, workdir, Cluster};

/// A table (or matview) of the source.
struct Table {
    schema: String,
    name: String,
    kind: char,
    /// `schema.name` of the partitioned parent.
    parent: Option<String>,
}

impl Table {
    fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A sequence of the source and the tables that need it.
struct Sequence {
    schema: String,
    name: String,
    /// Tables owning it (OWNED BY, identity), `schema.name`.
    owners: Vec<String>,
    /// Tables with a column default calling it.
    users: Vec<String>,
}

struct Case {
    ini: &'static str,
    /// Whether the schema is kept.
    schema: fn(&str) -> bool,
    /// Whether a table of a kept schema is kept.
    table: fn(&Table) -> bool,
    /// Whether a standalone sequence of a kept schema is kept.
    standalone: fn(&str, &str) -> bool,
    /// Tables created empty.
    no_data: &'static [&'static str],
}

fn all(_: &str) -> bool {
    true
}

fn every(_: &Table) -> bool {
    true
}

fn any_seq(_: &str, _: &str) -> bool {
    true
}

fn no_seq(_: &str, _: &str) -> bool {
    false
}

const TABLES_SQL: &str = "\
    SELECT n.nspname, c.relname, c.relkind::text, pn.nspname || '.' || p.relname \
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
      LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND c.relispartition \
      LEFT JOIN pg_class p ON p.oid = i.inhparent \
      LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'm', 'f') \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

const SEQUENCES_SQL: &str = "\
    SELECT n.nspname, s.relname, \
           (SELECT string_agg(tn.nspname || '.' || t.relname, ',') \
              FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid \
              JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid \
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), \
           (SELECT string_agg(tn.nspname || '.' || t.relname, ',') \
              FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid \
              JOIN pg_class t ON t.oid = ad.adrelid \
              JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             WHERE d.classid = 'pg_attrdef'::regclass \
               AND d.refclassid = 'pg_class'::regclass AND d.refobjid = s.oid) \
      FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace \
     WHERE s.relkind = 'S' \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

fn field(row: &[Option<String>], i: usize) -> String {
    row[i].clone().unwrap_or_default()
}

fn tables(c: &Cluster, db: &str) -> Vec<Table> {
    c.query(db, TABLES_SQL)
        .iter()
        .map(|r| Table {
            schema: field(r, 0),
            name: field(r, 1),
            kind: field(r, 2).chars().next().unwrap_or('r'),
            parent: r[3].clone(),
        })
        .collect()
}

fn sequences(c: &Cluster, db: &str) -> Vec<Sequence> {
    let list = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    c.query(db, SEQUENCES_SQL)
        .iter()
        .map(|r| Sequence {
            schema: field(r, 0),
            name: field(r, 1),
            owners: list(&r[2]),
            users: list(&r[3]),
        })
        .collect()
}

/// `schema.name` of the tables and sequences the case keeps.
fn expected(
    case: &Case,
    tables: &[Table],
    seqs: &[Sequence],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let kept: BTreeSet<String> = tables
        .iter()
        .filter(|t| (case.schema)(&t.schema) && (case.table)(t))
        .map(Table::qualified)
        .collect();
    let needed = |s: &Sequence| s.owners.iter().chain(&s.users).any(|t| kept.contains(t));
    let standalone = |s: &Sequence| s.owners.is_empty() && s.users.is_empty();
    let sequences = seqs
        .iter()
        .filter(|s| {
            needed(s)
                || ((case.schema)(&s.schema)
                    && standalone(s)
                    && (case.standalone)(&s.schema, &s.name))
        })
        .map(|s| format!("{}.{}", s.schema, s.name))
        .collect();
    (kept, sequences)
}

fn names(c: &Cluster, db: &str, kinds: &str) -> BTreeSet<String> {
    c.query(
        db,
        &format!(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind IN ({kinds}) \
                AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        ),
    )
    .iter()
    .map(|r| field(r, 0))
    .collect()
}

fn quoted(qualified: &str) -> String {
    qualified
        .split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// Clone `src_db` with each case into a database of its own and check it.
fn run_cases(src: &Cluster, src_db: &str, tgt: &Cluster, cases: &[Case]) {
    let tables = tables(src, src_db);
    let seqs = sequences(src, src_db);
    let dir = workdir();
    for (i, case) in cases.iter().enumerate() {
        let db = format!("{src_db}_{i}");
        tgt.create_db(&db);
        let filters = dir.path().join(format!("{db}.ini"));
        std::fs::write(&filters, case.ini).unwrap();
        let out = clone_between(
            (src, src_db),
            (tgt, &db),
            &dir.path().join(&db),
            &["--filters", filters.to_str().unwrap()],
        );
        let what = format!("clone of {src_db} with\n{}", case.ini);
        support::assert_success(&out, &what);

        let (want_tables, want_seqs) = expected(case, &tables, &seqs);
        assert_eq!(
            names(tgt, &db, "'r','p','m','f'"),
            want_tables,
            "tables, {what}"
        );
        assert_eq!(names(tgt, &db, "'S'"), want_seqs, "sequences, {what}");
        for s in &want_seqs {
            let sql = format!("SELECT last_value || ' ' || is_called FROM {}", quoted(s));
            assert_eq!(src.psql(src_db, &sql), tgt.psql(&db, &sql), "{s}, {what}");
        }
        for t in tables.iter().filter(|t| t.kind == 'r') {
            let q = t.qualified();
            if !want_tables.contains(&q) {
                continue;
            }
            let sql = format!("SELECT count(*) FROM ONLY {}", quoted(&q));
            let want = if case.no_data.contains(&q.as_str()) {
                "0".to_string()
            } else {
                src.psql(src_db, &sql)
            };
            assert_eq!(tgt.psql(&db, &sql), want, "rows of {q}, {what}");
        }
    }
}

fn in_part_under(t: &Table, parent: &str) -> bool {
    t.qualified() == parent || t.parent.as_deref() == Some(parent)
}

#[test]
fn filter_matrix_on_shared_identity_owned_and_partitioned_sequences() {
    let src = Cluster::shared_source();
    src.create_db("fx");
    src.load_sql_file("fx", &support::fixture("filter_sequences.sql"));
    let tgt = Cluster::shared_target();
    let cases = [
        // The case: the regex also matches the parent's sequence.
        Case {
            ini: "[exclude-table]\npart.~/^pay_p/\n",
            schema: all,
            table: |t| !(t.schema == "part" && t.name.starts_with("pay_p")),
            standalone: any_seq,
            no_data: &[],
        },
        // The parent goes, its partitions with it; ledger keeps the sequence.
        Case {
            ini: "[exclude-table]\npart.pay\n",
            schema: all,
            table: |t| !in_part_under(t, "part.pay"),
            standalone: any_seq,
            no_data: &[],
        },
        // Only names that are sequences: tables keep theirs, standalone ones go.
        Case {
            ini: "[exclude-table]\n~/./.~/_seq$/\n",
            schema: all,
            table: every,
            standalone: |_, n| !n.ends_with("_seq"),
            no_data: &[],
        },
        // A serial's owner goes, the table using it as default keeps it;
        // a not-owned sequence goes with the only table using it.
        Case {
            ini: "[exclude-table]\napp.owner_t\nseq.~/^default/\napp.invoice_no\n\
                  [exclude-table-data]\napp.a\n",
            schema: all,
            table: |t| t.qualified() != "app.owner_t" && !t.name.starts_with("default"),
            standalone: |s, n| !(s == "app" && n == "invoice_no"),
            no_data: &["app.a"],
        },
        Case {
            ini: "[exclude-table]\napp.borrower\napp.ident\n",
            schema: all,
            table: |t| !["app.borrower", "app.ident"].contains(&t.qualified().as_str()),
            standalone: any_seq,
            no_data: &[],
        },
        // The reverse: include-only leaves out what only others need.
        Case {
            ini: "[include-only-table]\napp.borrower\nseq.b\n",
            schema: all,
            table: |t| ["app.borrower", "seq.b"].contains(&t.qualified().as_str()),
            standalone: no_seq,
            no_data: &[],
        },
        // A partitioned parent brings its partitions.
        Case {
            ini: "[include-only-table]\npart.pay\napp.~/^(a|ident)$/\napp.invoice_no\n",
            schema: all,
            table: |t| {
                in_part_under(t, "part.pay")
                    || ["app.a", "app.ident"].contains(&t.qualified().as_str())
            },
            standalone: |s, n| s == "app" && n == "invoice_no",
            no_data: &[],
        },
        // Some partitions by regex: the parent and the default partition stay.
        Case {
            ini: "[exclude-table]\npart.~/^pay_p20/\n[exclude-table-data]\npart.pay_other\n\
                  [include-only-schema]\npart\n",
            schema: |s| s == "part",
            table: |t| !t.name.starts_with("pay_p20"),
            standalone: any_seq,
            no_data: &["part.pay_other"],
        },
        // Schemas: a default calling a sequence of a left-out schema is dropped.
        Case {
            ini: "[include-only-schema]\nseq\n",
            schema: |s| s == "seq",
            table: every,
            standalone: any_seq,
            no_data: &[],
        },
        Case {
            ini: "[exclude-schema]\nshared\npart\n[exclude-table-data]\nseq.~/./\n",
            schema: |s| s != "shared" && s != "part",
            table: every,
            standalone: any_seq,
            no_data: &["seq.b", "seq.default_table"],
        },
        Case {
            ini: "[include-only-schema]\napp\nshared\n[exclude-table]\napp.a\n",
            schema: |s| s == "app" || s == "shared",
            table: |t| t.qualified() != "app.a",
            standalone: any_seq,
            no_data: &[],
        },
    ];
    run_cases(&src, "fx", &tgt, &cases);
}

/// The pagila cases on the demo database: partitions left out by a regex,
/// a partitioned table kept with its partitions, and tables a materialized
/// view reads left out with the view, their sequences and a partition's data.
#[test]
fn filter_matrix_on_the_demo() {
    let src = Cluster::shared_source();
    src.load_demo("demo");
    let tgt = Cluster::shared_target();
    let cases = [
        Case {
            ini: "[exclude-table]\nsales.~/^orders_20/\n",
            schema: all,
            table: |t| !t.name.starts_with("orders_20"),
            standalone: any_seq,
            no_data: &[],
        },
        Case {
            ini: "[include-only-table]\nsales.orders\nsales.customer\n",
            schema: all,
            table: |t| in_part_under(t, "sales.orders") || t.qualified() == "sales.customer",
            standalone: no_seq,
            no_data: &[],
        },
        Case {
            ini: "[exclude-table]\nsales.~/^order_line/\nsales.~/_number$/\n\
                  [exclude-table-data]\nsales.orders_2024_q1\n",
            schema: all,
            // The materialized view reads order_line.
            table: |t| t.name != "order_line" && t.kind != 'm',
            standalone: |_, n| !n.ends_with("_number"),
            no_data: &["sales.orders_2024_q1"],
        },
    ];
    run_cases(&src, "demo", &tgt, &cases);
}

#[test]
fn filter_matrix_on_pagila() {
    if !support::pagila_or_skip() {
        return;
    }
    let src = Cluster::shared_source();
    src.load_pagila("pagila");
    let tgt = Cluster::shared_target();
    let cases = [
        // The case.
        Case {
            ini: "[exclude-table]\npublic.~/^payment_p/\n",
            schema: all,
            table: |t| !t.name.starts_with("payment_p"),
            standalone: any_seq,
            no_data: &[],
        },
        Case {
            ini: "[include-only-table]\npublic.payment\npublic.customer\n",
            schema: all,
            table: |t| in_part_under(t, "public.payment") || t.qualified() == "public.customer",
            standalone: no_seq,
            no_data: &[],
        },
        Case {
            ini: "[exclude-table]\npublic.~/^film/\npublic.~/_seq$/\n\
                  [exclude-table-data]\npublic.payment_p2007_01\n",
            schema: all,
            // The materialized views read film.
            table: |t| !t.name.starts_with("film") && (t.kind != 'm' || !t.name.contains("film")),
            standalone: |_, n| !n.ends_with("_seq"),
            no_data: &["public.payment_p2007_01"],
        },
    ];
    run_cases(&src, "pagila", &tgt, &cases);
}
