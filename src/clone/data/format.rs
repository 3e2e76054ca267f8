//! The COPY format of each table.

use tracing::warn;

use crate::catalog::Table;
use crate::clone::CopyFormatChoice;
use crate::copy::CopyFormat;

/// Binary COPY costs the target less to parse. It is used only for tables
/// whose every column's binary form is portable between servers (see
/// `catalog::columns`): asked for with `binary`, or chosen by `auto` when both
/// servers share the major version. Anything else copies as text, whose form
/// is resolved again on the target (a reg* value by its name).
pub(super) fn copy_format(arg: CopyFormatChoice, same_major: bool, table: &Table) -> CopyFormat {
    let portable = table.binary_safe() && !table.columns.is_empty();
    let binary = match arg {
        CopyFormatChoice::Text => false,
        CopyFormatChoice::Binary => portable,
        CopyFormatChoice::Auto => portable && same_major,
    };
    if binary {
        CopyFormat::Binary
    } else {
        CopyFormat::Text
    }
}

/// With `--copy-format binary`, one warning for each table that is copied in
/// text all the same, naming the columns and why.
pub(super) fn warn_text_fallbacks<'a>(
    arg: CopyFormatChoice,
    tables: impl Iterator<Item = &'a std::sync::Arc<Table>>,
) {
    if arg != CopyFormatChoice::Binary {
        return;
    }
    for table in tables {
        if let Some(why) = text_fallback_reason(table) {
            warn!(
                // The original's words last: its scripts grep them.
                "table {} is copied in text format, not binary: {why}; not safe for COPY BINARY",
                table.label()
            );
        }
    }
}

/// `column c (type): reason; ...` for the columns of `table` whose binary
/// form is not portable, or None when there are none.
fn text_fallback_reason(table: &Table) -> Option<String> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .filter(|c| !c.binary_safe)
        .map(|c| {
            let why = c
                .binary_not_portable
                .as_deref()
                .unwrap_or("its binary form is not portable between servers");
            format!("column {} ({}): {why}", c.name, c.type_name)
        })
        .collect();
    (!columns.is_empty()).then(|| columns.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Column;

    fn table(columns: &[(&str, Option<&str>)]) -> Table {
        let mut t = Table::for_test(1, 8192);
        t.columns = columns
            .iter()
            .map(|(name, why)| Column {
                name: name.to_string(),
                type_name: if why.is_some() {
                    "regconfig"
                } else {
                    "integer"
                }
                .into(),
                binary_safe: why.is_none(),
                binary_not_portable: why.map(str::to_string),
                extended: false,
            })
            .collect();
        t
    }

    #[test]
    fn binary_only_for_portable_tables() {
        let plain = table(&[("id", None)]);
        let reg = table(&[("id", None), ("cfg", Some("an OID"))]);
        let cases = [
            (CopyFormatChoice::Auto, true, &plain, CopyFormat::Binary),
            (CopyFormatChoice::Auto, false, &plain, CopyFormat::Text),
            (CopyFormatChoice::Binary, false, &plain, CopyFormat::Binary),
            (CopyFormatChoice::Text, true, &plain, CopyFormat::Text),
            (CopyFormatChoice::Auto, true, &reg, CopyFormat::Text),
            (CopyFormatChoice::Binary, true, &reg, CopyFormat::Text),
        ];
        for (arg, same_major, t, want) in cases {
            assert_eq!(
                copy_format(arg, same_major, t),
                want,
                "{arg:?} {same_major}"
            );
        }
        assert_eq!(
            copy_format(CopyFormatChoice::Binary, true, &table(&[])),
            CopyFormat::Text,
            "a table without columns"
        );
    }

    #[test]
    fn the_fallback_names_each_column_and_why() {
        let t = table(&[
            ("id", None),
            ("cfg", Some("an OID")),
            ("p", Some("another")),
        ]);
        assert_eq!(
            text_fallback_reason(&t).as_deref(),
            Some("column cfg (regconfig): an OID; column p (regconfig): another")
        );
        assert_eq!(text_fallback_reason(&table(&[("id", None)])), None);
    }
}
