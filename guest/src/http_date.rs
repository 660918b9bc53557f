//! HTTP dates in the one form Digipost signs: IMF-fixdate (RFC 7231 §7.1.1.1, the RFC 1123
//! form), e.g. `Wed, 29 Jun 2016 14:58:11 GMT`.
//!
//! Written out rather than borrowed because the signature covers the header's exact text: a
//! parser that also accepts the obsolete RFC 850 and asctime forms would let a client sign a
//! date the server reads differently, and the formatter must never panic on a caller's input.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Why a date header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an RFC 1123 date like \"Wed, 29 Jun 2016 14:58:11 GMT\": {reason}")]
pub struct DateError {
    /// The text that was given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1-12, day 1-31) of a day number since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Format seconds since the Unix epoch as an IMF-fixdate. Years outside 0..=9999 cannot be
/// written in four digits and are clamped to that range's ends.
pub fn format(unix_seconds: i64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let t = unix_seconds.clamp(MIN, MAX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[month as usize - 1],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn number(text: &str, value: &str, reason: &'static str) -> Result<u32, DateError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError {
            value: value.to_owned(),
            reason,
        });
    }
    text.parse().map_err(|_| DateError {
        value: value.to_owned(),
        reason,
    })
}

/// Parse an IMF-fixdate into seconds since the Unix epoch. The weekday must match the date.
pub fn parse(value: &str) -> Result<i64, DateError> {
    let err = |reason| DateError {
        value: value.to_owned(),
        reason,
    };
    let b = value.as_bytes();
    if !value.is_ascii() {
        return Err(err("it holds characters outside ASCII"));
    }
    if b.len() != 29 {
        return Err(err("it must be exactly 29 characters long"));
    }
    if &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || &b[25..] != b" GMT" {
        return Err(err(
            "the separators or the GMT zone are not where RFC 1123 puts them",
        ));
    }
    let weekday = &value[0..3];
    let day = number(&value[5..7], value, "the day is not two digits")?;
    let month = MONTHS
        .iter()
        .position(|m| *m == &value[8..11])
        .ok_or_else(|| err("the month is not one of Jan, Feb, ... Dec"))? as u32
        + 1;
    let year = i64::from(number(
        &value[12..16],
        value,
        "the year is not four digits",
    )?);
    if b[19] != b':' || b[22] != b':' {
        return Err(err("the time is not HH:MM:SS"));
    }
    let hour = number(&value[17..19], value, "the hour is not two digits")?;
    let minute = number(&value[20..22], value, "the minute is not two digits")?;
    let second = number(&value[23..25], value, "the second is not two digits")?;
    if day == 0 || day > days_in_month(year, month) {
        return Err(err("the day does not exist in that month"));
    }
    // 60 allows a leap second, which RFC 7231 permits.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err("the time of day is out of range"));
    }
    let days = days_from_civil(year, month, day);
    if DAYS[days.rem_euclid(7) as usize] != weekday {
        return Err(err("the weekday does not match the date"));
    }
    Ok(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(format(1_467_212_291), "Wed, 29 Jun 2016 14:58:11 GMT");
        assert_eq!(parse("Wed, 29 Jun 2016 14:58:11 GMT"), Ok(1_467_212_291));
        assert_eq!(parse("Mon, 07 Jul 2014 12:00:02 GMT"), Ok(1_404_734_402));
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse("Thu, 29 Feb 2024 00:00:00 GMT"), Ok(1_709_164_800));
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "Wednesday, 29-Jun-16 14:58:11 GMT",
            "Wed Jun 29 14:58:11 2016",
            "Wed, 29 Jun 2016 14:58:11 UTC",
            "Thu, 29 Jun 2016 14:58:11 GMT", // wrong weekday
            "Wed, 31 Jun 2016 14:58:11 GMT", // no such day
            "Wed, 29 Jun 2016 24:58:11 GMT",
            "Wed, +9 Jun 2016 14:58:11 GMT",
            "Wed, 29 Jux 2016 14:58:11 GMT",
            "Wed, 29 Jun 2016 14:58:11 GMTX",
            "Wed, 29 Jun 2016 14:58:11 GM\u{e9}",
            "W\u{e9}, 29 Jun 2016 14:58:11 GMT",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(t in -62_167_219_200i64..253_402_300_799) {
            prop_assert_eq!(parse(&format(t)), Ok(t));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn format_never_panics(t in any::<i64>()) {
            prop_assert_eq!(format(t).len(), 29);
        }
    }
}
