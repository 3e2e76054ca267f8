//! The SQL of each statement shape: which columns an INSERT writes, which
//! an UPDATE sets, and how an UPDATE or DELETE finds its row. A shape is
//! prepared once per relation and reused for every change of that shape.

use std::fmt::Write as _;

use super::target::TargetTable;

/// How one column takes part in a statement (one byte per column of the
/// relation; the bytes together are the shape's cache key).
pub mod role {
    /// Written: an INSERT column or an UPDATE's SET.
    pub const WRITE: u8 = 1;
    /// Compared with `=` to a parameter.
    pub const MATCH: u8 = 2;
    /// Compared through `::text` (no equality for the type).
    pub const MATCH_TEXT: u8 = 4;
    /// Matched with `IS NULL` (no parameter).
    pub const MATCH_NULL: u8 = 8;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Insert,
    Update,
    Delete,
    /// DELETEs of many rows by a one-column key: `$1` the keys (an array).
    DeleteMany,
}

/// The statement for `roles` on `table`. Parameters are numbered in column
/// order: the written columns first, then the matched ones.
/// `one_row` (REPLICA IDENTITY FULL) touches a single row of those that
/// match, through its ctid, since duplicates are legal there. How many rows
/// an UPDATE or DELETE touched is read from its command tag (see
/// settle.rs); the commit of its transaction waits for that (see group.rs).
pub fn sql(table: &TargetTable, op: Op, roles: &[u8], one_row: bool) -> String {
    let mut n = 0;
    let mut param = || {
        n += 1;
        n
    };
    let columns = || table.columns.iter().zip(roles.iter().copied());
    match op {
        Op::DeleteMany => {
            let key = columns()
                .find(|(_, r)| r & role::MATCH != 0)
                .map_or("", |(c, _)| c.ident.as_str());
            format!("DELETE FROM {} WHERE {key} = ANY($1)", table.only())
        }
        Op::Insert => {
            let mut names = Vec::new();
            let mut values = Vec::new();
            for (c, r) in columns() {
                if r & role::WRITE != 0 {
                    names.push(c.ident.as_str());
                    values.push(format!("${}", param()));
                }
            }
            if names.is_empty() {
                return format!("INSERT INTO {} DEFAULT VALUES", table.qualified);
            }
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.qualified,
                names.join(", "),
                values.join(", ")
            )
        }
        Op::Update | Op::Delete => {
            let mut head = match op {
                Op::Update => format!("UPDATE {} SET ", table.only()),
                _ => format!("DELETE FROM {}", table.only()),
            };
            if op == Op::Update {
                let sets: Vec<String> = columns()
                    .filter(|(_, r)| r & role::WRITE != 0)
                    .map(|(c, _)| format!("{} = ${}", c.ident, param()))
                    .collect();
                head.push_str(&sets.join(", "));
            }
            let mut conditions = Vec::new();
            for (c, r) in columns() {
                if r & role::MATCH != 0 {
                    conditions.push(format!("{} = ${}", c.ident, param()));
                } else if r & role::MATCH_TEXT != 0 {
                    conditions.push(format!(
                        "{}::pg_catalog.text = ${}::pg_catalog.text",
                        c.ident,
                        param()
                    ));
                } else if r & role::MATCH_NULL != 0 {
                    conditions.push(format!("{} IS NULL", c.ident));
                }
            }
            let condition = if conditions.is_empty() {
                "true".to_string()
            } else {
                conditions.join(" AND ")
            };
            let mut out = head;
            if one_row {
                // A partitioned table's ctids repeat across partitions.
                let (locator, select) = if table.partitioned {
                    ("(tableoid, ctid)", "tableoid, ctid")
                } else {
                    ("ctid", "ctid")
                };
                let _ = write!(
                    out,
                    " WHERE {locator} = (SELECT {select} FROM {} WHERE {condition} LIMIT 1)",
                    table.only()
                );
            } else {
                let _ = write!(out, " WHERE {condition}");
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::role::*;
    use super::*;
    use crate::stream::apply::target::TargetColumn;

    fn table(partitioned: bool) -> TargetTable {
        let col = |ident: &str| TargetColumn {
            ident: ident.to_string(),
            generated: false,
            has_equality: true,
        };
        TargetTable {
            qualified: "public.\"T\"".to_string(),
            partitioned,
            columns: vec![col("id"), col("\"B\""), col("j")],
        }
    }

    #[test]
    fn insert_lists_written_columns() {
        let t = table(false);
        assert_eq!(
            sql(&t, Op::Insert, &[WRITE, 0, WRITE], false),
            "INSERT INTO public.\"T\" (id, j) VALUES ($1, $2)"
        );
    }

    #[test]
    fn update_sets_then_matches_key() {
        let t = table(false);
        assert_eq!(
            sql(&t, Op::Update, &[WRITE | MATCH, WRITE, 0], false),
            "UPDATE ONLY public.\"T\" SET id = $1, \"B\" = $2 WHERE id = $3"
        );
    }

    #[test]
    fn full_identity_touches_one_row() {
        let t = table(true);
        assert_eq!(
            sql(&t, Op::Delete, &[MATCH, MATCH_NULL, MATCH_TEXT], true),
            "DELETE FROM public.\"T\" WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM \
             public.\"T\" WHERE id = $1 AND \"B\" IS NULL AND j::pg_catalog.text = \
             $2::pg_catalog.text LIMIT 1)"
        );
    }
}
