//! The row-count guard of every copy: the number of rows the source's
//! `COPY ... TO` reported must be the number the target's `COPY ... FROM`
//! reported (both from their CommandComplete, "COPY n"). It costs nothing
//! and catches what makes a target silently hold fewer or more rows: a
//! target trigger that skips rows, a stream cut short or duplicated.

/// The two sides' counts of one copy differ.
#[derive(Debug, thiserror::Error)]
#[error(
    "{label}: the source sent {source_rows} rows but the target's COPY stored {target_rows} \
     (a trigger on the target skipping or adding rows?); the target's rows were rolled back"
)]
pub struct RowCountMismatch {
    pub label: String,
    pub source_rows: u64,
    pub target_rows: u64,
}

/// The row count of a CommandComplete tag: `COPY 42` gives 42.
pub fn copy_tag_rows(tag: &[u8]) -> Option<u64> {
    let tag = tag.strip_suffix(&[0]).unwrap_or(tag);
    let rest = tag.strip_prefix(b"COPY ")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tags_are_read() {
        assert_eq!(copy_tag_rows(b"COPY 42\0"), Some(42));
        assert_eq!(copy_tag_rows(b"COPY 0"), Some(0));
        assert_eq!(copy_tag_rows(b"SELECT 1\0"), None);
        assert_eq!(copy_tag_rows(b"COPY x\0"), None);
    }

    #[test]
    fn a_mismatch_names_the_table_and_both_counts() {
        let e = RowCountMismatch {
            label: "public.t".into(),
            source_rows: 10,
            target_rows: 5,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("public.t: the source sent 10 rows"),
            "{text}"
        );
        assert!(text.contains("stored 5"), "{text}");
    }
}
