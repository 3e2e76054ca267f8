use super::*;

const MB: u64 = 1 << 20;

#[test]
fn sizes_with_units() {
    assert_eq!(parse_size("1GB"), Ok(1 << 30));
    assert_eq!(parse_size("500 MB"), Ok(500 * MB));
    assert_eq!(parse_size("10kB"), Ok(10 * 1024));
    assert_eq!(parse_size("10KiB"), Ok(10 * 1024));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("12 bytes"), Ok(12));
    assert_eq!(parse_size(" 2 tb "), Ok(2 << 40));
    assert_eq!(parse_size("1.5G"), Ok(3 << 29));
    assert_eq!(parse_size(".5MB"), Ok(MB / 2));
    assert_eq!(parse_size("1EB"), Ok(1 << 60));
    assert_eq!(parse_size("0"), Ok(0));
}

#[test]
fn bad_sizes() {
    for bad in [
        "",
        "GB",
        "-1GB",
        "1.2.3MB",
        "10 parsecs",
        "1 G B",
        ".",
        "16EB",
    ] {
        assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
    }
    let err = parse_size("10 parsecs").unwrap_err();
    assert!(err.contains("unknown unit"), "{err}");
}

fn key(nullable: bool, min: i64, max: i64) -> Option<SplitKey> {
    Some(SplitKey {
        column: "id".into(),
        nullable,
        min: Some(min),
        max: Some(max),
    })
}

fn shape(bytes: u64, heap_pages: i64, key: Option<SplitKey>) -> TableShape {
    TableShape {
        bytes: bytes as i64,
        heap_pages,
        key,
        ctid_split: true,
    }
}

fn settings(threshold: u64, max_parts: u32) -> SplitSettings {
    SplitSettings {
        threshold,
        max_parts,
    }
}

/// Key ranges must chain: unbounded first and last, each `to` the next `from`.
fn assert_key_ranges_cover(parts: &[Part]) {
    let ranges: Vec<(Option<i64>, Option<i64>)> = parts
        .iter()
        .filter_map(|p| match &p.range {
            PartRange::Key { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(ranges.first().unwrap().0, None);
    assert_eq!(ranges.last().unwrap().1, None);
    for w in ranges.windows(2) {
        let to = w[0].1.expect("inner bound");
        assert_eq!(Some(to), w[1].0, "gap or overlap in {ranges:?}");
        assert!(
            w[0].0.is_none_or(|from| from < to),
            "empty range in {ranges:?}"
        );
    }
}

fn assert_numbered(parts: &[Part]) {
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.number as usize, i + 1);
        assert_eq!(p.count as usize, parts.len());
    }
}

#[test]
fn small_or_unsplit_tables_are_whole() {
    let t = shape(10 * MB, 1280, key(false, 1, 1000));
    for s in [settings(0, 0), settings(20 * MB, 0), settings(MB, 1)] {
        let parts = plan_parts(&t, &s);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range, PartRange::Whole);
        assert_eq!(parts[0].predicate(), None);
    }
    // Exactly at the threshold: eligible, but one part's worth of data.
    assert_eq!(
        plan_parts(&t, &settings(10 * MB, 0))[0].range,
        PartRange::Whole
    );
}

#[test]
fn integer_key_gives_even_contiguous_ranges() {
    let t = shape(10 * MB, 1280, key(false, 1, 1000));
    let parts = plan_parts(&t, &settings(MB, 0));
    assert_eq!(parts.len(), 10);
    assert_numbered(&parts);
    assert_key_ranges_cover(&parts);
    assert_eq!(parts[0].predicate().as_deref(), Some("id < 101"));
    assert_eq!(
        parts[1].predicate().as_deref(),
        Some("id >= 101 AND id < 201")
    );
    assert_eq!(parts[9].predicate().as_deref(), Some("id >= 901"));
}

#[test]
fn size_counts_toast_not_just_heap() {
    // 8 heap pages but 40 MB with TOAST: split by the 40 MB.
    let t = shape(40 * MB, 8, None);
    let parts = plan_parts(&t, &settings(10 * MB, 0));
    assert_eq!(parts.len(), 4);
    assert_eq!(
        parts[0].range,
        PartRange::Pages {
            from: 0,
            to: Some(2)
        }
    );
    assert_eq!(parts[3].range, PartRange::Pages { from: 6, to: None });
    assert_eq!(parts[0].predicate().as_deref(), Some("ctid < '(2,0)'::tid"));
    assert_eq!(
        parts[1].predicate().as_deref(),
        Some("ctid >= '(2,0)'::tid AND ctid < '(4,0)'::tid")
    );
    assert_eq!(
        parts[3].predicate().as_deref(),
        Some("ctid >= '(6,0)'::tid")
    );
}

#[test]
fn max_parts_caps_both_methods() {
    let with_key = shape(100 * MB, 12800, key(false, -50, 50_000));
    let parts = plan_parts(&with_key, &settings(MB, 7));
    assert_eq!(parts.len(), 7);
    assert_key_ranges_cover(&parts);
    let by_ctid = shape(100 * MB, 12800, None);
    let parts = plan_parts(&by_ctid, &settings(MB, 7));
    assert_eq!(parts.len(), 7);
    assert_numbered(&parts);
}

#[test]
fn nullable_key_adds_a_null_part_within_the_cap() {
    let t = shape(4 * MB, 512, key(true, 0, 99));
    let parts = plan_parts(&t, &settings(MB, 0));
    assert_eq!(parts.len(), 5);
    assert_eq!(parts[4].predicate().as_deref(), Some("id IS NULL"));
    assert_key_ranges_cover(&parts);
    let capped = plan_parts(&t, &settings(MB, 3));
    assert_eq!(capped.len(), 3);
    assert!(matches!(capped[2].range, PartRange::KeyIsNull { .. }));
}

#[test]
fn narrow_key_range_limits_the_parts() {
    let t = shape(100 * MB, 12800, key(false, 5, 7));
    let parts = plan_parts(&t, &settings(MB, 0));
    assert_eq!(parts.len(), 3);
    assert_key_ranges_cover(&parts);
    // One distinct value: nothing to split on.
    let one = shape(100 * MB, 12800, key(false, 5, 5));
    assert_eq!(plan_parts(&one, &settings(MB, 0)).len(), 1);
}

#[test]
fn extreme_keys_do_not_overflow() {
    let t = shape(100 * MB, 12800, key(false, i64::MIN, i64::MAX));
    let parts = plan_parts(&t, &settings(10 * MB, 0));
    assert_eq!(parts.len(), 10);
    assert_key_ranges_cover(&parts);
}

#[test]
fn no_key_and_no_ctid_or_empty_heap_is_whole() {
    let mut t = shape(100 * MB, 12800, None);
    t.ctid_split = false;
    assert_eq!(plan_parts(&t, &settings(MB, 0)).len(), 1);
    let empty_heap = shape(100 * MB, 0, None);
    assert_eq!(plan_parts(&empty_heap, &settings(MB, 0)).len(), 1);
    let empty_key = TableShape {
        key: Some(SplitKey {
            column: "id".into(),
            nullable: false,
            min: None,
            max: None,
        }),
        ..shape(100 * MB, 12800, None)
    };
    assert_eq!(plan_parts(&empty_key, &settings(MB, 0)).len(), 1);
}

#[test]
fn pages_are_contiguous_and_cover_the_heap() {
    let t = shape(25 * MB, 1001, None);
    let parts = plan_parts(&t, &settings(MB, 0));
    // 25 wanted, 1001 pages: 41 pages a part, 25 parts.
    assert_eq!(parts.len(), 25);
    let mut next = 0;
    for (i, p) in parts.iter().enumerate() {
        let PartRange::Pages { from, to } = p.range else {
            panic!("not a page range: {p:?}")
        };
        assert_eq!(from, next);
        match to {
            Some(to) => {
                assert!(i + 1 < parts.len() && to > from);
                next = to;
            }
            None => assert!(i + 1 == parts.len() && from < 1001),
        }
    }
}

#[test]
fn quoted_key_column() {
    let t = TableShape {
        key: Some(SplitKey {
            column: "Order Id".into(),
            nullable: false,
            min: Some(0),
            max: Some(9),
        }),
        ..shape(2 * MB, 256, None)
    };
    let parts = plan_parts(&t, &settings(MB, 0));
    assert_eq!(parts[0].predicate().as_deref(), Some("\"Order Id\" < 5"));
}

#[test]
fn ctid_ranges_only_for_heap_tables_of_a_14_or_later_source() {
    assert!(ctid_split_allowed(14, true, false));
    assert!(ctid_split_allowed(18, true, false));
    assert!(!ctid_split_allowed(13, true, false), "no TID range scan");
    assert!(!ctid_split_allowed(15, false, false), "not heap");
    assert!(!ctid_split_allowed(15, true, true), "--skip-split-by-ctid");
}
