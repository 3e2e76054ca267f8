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

/// The end of the error text of a checked statement that did not touch
/// exactly one row: `invalid input syntax for type integer: "0 rows match
/// the replica identity"`.
pub const ROWS_MATCH: &str = " rows match the replica identity";

/// The number of rows a checked statement's error says matched.
pub fn rows_matched(server_message: &str) -> Option<u64> {
    let at = server_message.find(ROWS_MATCH)?;
    let head = server_message.get(..at)?;
    let digits = head.rsplit(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Insert,
    Update,
    Delete,
    /// DELETEs of many rows by a one-column key: `$1` the keys (an array),
    /// `$2` how many (the checked form fails unless each matched one row).
    DeleteMany,
}

/// The statement for `roles` on `table`. Parameters are numbered in column
/// order: the written columns first, then the matched ones.
/// `one_row` (REPLICA IDENTITY FULL) touches a single row of those that
/// match, through its ctid, since duplicates are legal there. `checked`
/// makes an UPDATE or DELETE that touches no row, or several, fail on the
/// server (see [`ROWS_MATCH`]), so that its transaction cannot commit.
pub fn sql(table: &TargetTable, op: Op, roles: &[u8], one_row: bool, checked: bool) -> String {
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
            let delete = format!("DELETE FROM {} WHERE {key} = ANY($1)", table.only());
            if !checked {
                return delete;
            }
            format!(
                "WITH changed AS ({delete} RETURNING 1) SELECT CASE count(*) WHEN $2 THEN 1 \
                 ELSE (count(*)::pg_catalog.text || '{ROWS_MATCH}')::int END FROM changed"
            )
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
            if checked {
                out = format!(
                    "WITH changed AS ({out} RETURNING 1) SELECT CASE count(*) WHEN 1 THEN 1 \
                     ELSE (count(*)::pg_catalog.text || '{ROWS_MATCH}')::int END FROM changed"
                );
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
            sql(&t, Op::Insert, &[WRITE, 0, WRITE], false, false),
            "INSERT INTO public.\"T\" (id, j) VALUES ($1, $2)"
        );
    }

    #[test]
    fn update_sets_then_matches_key() {
        let t = table(false);
        assert_eq!(
            sql(&t, Op::Update, &[WRITE | MATCH, WRITE, 0], false, false),
            "UPDATE ONLY public.\"T\" SET id = $1, \"B\" = $2 WHERE id = $3"
        );
    }

    #[test]
    fn checked_statements_fail_unless_one_row_changes() {
        let t = table(false);
        assert_eq!(
            sql(&t, Op::Delete, &[MATCH, 0, 0], false, true),
            format!(
                "WITH changed AS (DELETE FROM ONLY public.\"T\" WHERE id = $1 RETURNING 1) \
                 SELECT CASE count(*) WHEN 1 THEN 1 ELSE (count(*)::pg_catalog.text || \
                 '{ROWS_MATCH}')::int END FROM changed"
            )
        );
        let message = format!("invalid input syntax for type integer: \"12{ROWS_MATCH}\"");
        assert_eq!(rows_matched(&message), Some(12));
        assert_eq!(rows_matched("division by zero"), None);
    }

    #[test]
    fn full_identity_touches_one_row() {
        let t = table(true);
        assert_eq!(
            sql(
                &t,
                Op::Delete,
                &[MATCH, MATCH_NULL, MATCH_TEXT],
                true,
                false
            ),
            "DELETE FROM public.\"T\" WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM \
             public.\"T\" WHERE id = $1 AND \"B\" IS NULL AND j::pg_catalog.text = \
             $2::pg_catalog.text LIMIT 1)"
        );
    }
}
