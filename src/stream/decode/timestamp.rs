//! Commit times as the text plugins print them (`timestamptz_to_str`:
//! always ISO, `2026-12-04 19:16:05.623962+00`, in the walsender's
//! TimeZone), turned into pgoutput's form: microseconds since 2000-01-01 UTC.

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `None` when `text` is not in that form.
pub(super) fn parse_timestamptz(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(' ')?;
    let mut date_parts = date.splitn(3, '-');
    let year = number(date_parts.next()?)?;
    let month = number(date_parts.next()?)?;
    let day = number(date_parts.next()?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let sign_at = time.find(['+', '-'])?;
    let (clock, offset) = time.split_at(sign_at);
    let mut clock_parts = clock.splitn(3, ':');
    let hour = number(clock_parts.next()?)?;
    let minute = number(clock_parts.next()?)?;
    let (second, fraction) = match clock_parts.next()?.split_once('.') {
        Some((s, f)) if f.len() <= 6 => (number(s)?, number(&format!("{f:0<6}"))?),
        Some(_) => return None,
        None => (number(clock.rsplit(':').next()?)?, 0),
    };
    let negative = offset.starts_with('-');
    let mut offset_seconds = 0;
    for (i, part) in offset.get(1..)?.split(':').enumerate() {
        let unit = [3600, 60, 1].get(i)?;
        offset_seconds += number(part)? * unit;
    }
    if negative {
        offset_seconds = -offset_seconds;
    }
    let days = days_from_civil(year, month, day) - days_from_civil(2000, 1, 1);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_since_2000_utc() {
        assert_eq!(parse_timestamptz("2000-01-01 00:00:00+00"), Some(0));
        assert_eq!(parse_timestamptz("2000-01-01 01:00:00.5+01"), Some(500_000));
        assert_eq!(
            parse_timestamptz("1999-12-31 18:30:00.000001-05:30"),
            Some(1)
        );
        // 2026-12-04 19:16:05.623962 UTC, from SELECT extract(epoch ...).
        assert_eq!(
            parse_timestamptz("2026-12-04 19:16:05.623962+00"),
            Some((1_796_411_765 - 946_684_800) * 1_000_000 + 623_962)
        );
    }

    #[test]
    fn refuses_other_forms() {
        for text in [
            "",
            "2026-12-04",
            "2026-13-01 00:00:00+00",
            "x y",
            "2026-12-04 10:00:00",
        ] {
            assert_eq!(parse_timestamptz(text), None, "{text}");
        }
    }
}
