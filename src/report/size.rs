//! Sizes and rates as the original pgcopydb shows them: sizes in
//! PostgreSQL's `pg_size_pretty` units (`8192 bytes`, `96 kB`, `12 MB`),
//! transfer rates in bits per second (`17 GBit/s`). Every size printed for
//! people or scripts goes through here, so all outputs read alike.

/// A size as PostgreSQL's `pg_size_pretty(bigint)` prints it. Takes any
/// integer; a `u64` beyond `i64::MAX` (never a real size) shows as the
/// largest `bigint`.
pub fn pg_size_pretty(n: impl TryInto<i64>) -> String {
    let n: i64 = n.try_into().unwrap_or(i64::MAX);
    // Bytes below 10 kB; every other unit is used below 20 * 1024 - 1 of it
    // (petabytes always: the last unit). The size is carried in halves of
    // the unit so that the last division rounds half away from zero, as
    // PostgreSQL's half_rounded() does; division (not shifts) rounds
    // negative sizes like positive ones.
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n.unsigned_abs() < 10 * 1024 {
        return format!("{n} bytes");
    }
    let half_rounded = |h: i64| (h + if h < 0 { -1 } else { 1 }) / 2;
    let mut halves = n / (1 << 9);
    for (i, unit) in UNITS.iter().enumerate() {
        if i == UNITS.len() - 1 || halves.unsigned_abs() < 20 * 1024 - 1 {
            return format!("{} {unit}", half_rounded(halves));
        }
        halves /= 1 << 10;
    }
    unreachable!("the last unit is always used")
}

/// `bytes` sent in `seconds`, as the original's `transmit-rate`: bits per
/// second in powers of 1000 (`Bit/s`, `kBit/s`, ... `EBit/s`), a unit used
/// below 10000 of it, the value truncated; `0 B/s` for no duration.
pub fn transmit_rate(bytes: u64, seconds: f64) -> String {
    const UNITS: [&str; 7] = [
        "Bit/s", "kBit/s", "MBit/s", "GBit/s", "TBit/s", "PBit/s", "EBit/s",
    ];
    let millis = (seconds * 1000.0).trunc();
    if millis <= 0.0 || !millis.is_finite() {
        return "0 B/s".to_string();
    }
    let mut rate = bytes as f64 * 1000.0 * 8.0 / millis;
    let mut units = UNITS.iter().peekable();
    while let Some(unit) = units.next() {
        if rate < 10000.0 || units.peek().is_none() {
            return format!("{} {unit}", rate.trunc() as u64);
        }
        rate /= 1000.0;
    }
    unreachable!("the last unit is always used")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value as `SELECT pg_size_pretty(n::bigint)` printed it on
    /// PostgreSQL 15 (`tests/compat.rs::sizes_read_as_the_servers_pg_size_pretty`
    /// asks a live server for a wider range).
    #[test]
    fn sizes_read_as_pg_size_pretty_prints_them() {
        for (n, shown) in [
            (0, "0 bytes"),
            (8192, "8192 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (-10239, "-10239 bytes"),
            (-10240, "-10 kB"),
            (16384, "16 kB"),
            (98304, "96 kB"),
            (557_056, "544 kB"),
            (20 * 1024 * 1024 - 1, "20 MB"),
            (1_253_376, "1224 kB"),
            (5 * 1024 * 1024 * 1024, "5120 MB"),
            (50 * 1024 * 1024 * 1024, "50 GB"),
            (i64::MAX, "8192 PB"),
            (i64::MIN, "-8192 PB"),
        ] {
            assert_eq!(pg_size_pretty(n), shown, "{n}");
        }
        assert_eq!(pg_size_pretty(u64::MAX), pg_size_pretty(i64::MAX));
    }

    #[test]
    fn rates_read_as_the_original_prints_them() {
        assert_eq!(transmit_rate(1000, 0.0), "0 B/s");
        assert_eq!(transmit_rate(1249, 1.0), "9992 Bit/s");
        assert_eq!(transmit_rate(1250, 1.0), "10 kBit/s");
        assert_eq!(transmit_rate(17_179_869_184, 8.0), "17 GBit/s");
    }
}
