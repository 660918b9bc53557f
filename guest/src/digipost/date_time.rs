//! `xs:dateTime` values as Digipost's inbox carries them, e.g. `2017-05-23T09:30:10+02:00`.
//!
//! The inbox keeps the server's text untouched (it is what a person or a log should see);
//! this only decides whether the text is a date and time at all, so that a garbled value is
//! refused where it enters instead of surfacing later in whatever displays it.

/// Why a value is not an `xs:dateTime`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a date and time like 2017-05-23T09:30:10+02:00: {reason}")]
pub struct DateTimeError {
    /// What is wrong with it.
    pub reason: &'static str,
}

fn fail<T>(reason: &'static str) -> Result<T, DateTimeError> {
    Err(DateTimeError { reason })
}

/// Exactly `n` ASCII digits at the start of `s`, as a number, and the rest.
fn digits<'s>(s: &'s str, n: usize, reason: &'static str) -> Result<(u32, &'s str), DateTimeError> {
    match (s.get(..n), s.get(n..)) {
        (Some(d), Some(rest)) if d.bytes().all(|b| b.is_ascii_digit()) => {
            d.parse().map(|v| (v, rest)).or_else(|_| fail(reason))
        }
        _ => fail(reason),
    }
}

fn expect<'s>(s: &'s str, c: char, reason: &'static str) -> Result<&'s str, DateTimeError> {
    s.strip_prefix(c).map_or_else(|| fail(reason), Ok)
}

/// Check that `value` is an `xs:dateTime`: `[-]YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`, with real
/// calendar dates (29 February only in leap years), hours 00-23 (or exactly `24:00:00`) and
/// offsets within ±14:00. Surrounding whitespace is refused; callers trim first.
pub fn validate(value: &str) -> Result<(), DateTimeError> {
    let s = value.strip_prefix('-').unwrap_or(value);
    let year_len = s.bytes().take_while(u8::is_ascii_digit).count();
    if year_len < 4 {
        return fail("the year needs at least four digits");
    }
    if year_len > 4 && s.starts_with('0') {
        return fail("a year of more than four digits cannot start with 0");
    }
    if year_len > 12 {
        return fail("the year is too large");
    }
    let year: i64 = s
        .get(..year_len)
        .and_then(|y| y.parse().ok())
        .map_or_else(|| fail("bad year"), Ok)?;
    let s = s.get(year_len..).unwrap_or_default();
    let s = expect(s, '-', "expected '-' after the year")?;
    let (month, s) = digits(s, 2, "the month needs two digits")?;
    let s = expect(s, '-', "expected '-' after the month")?;
    let (day, s) = digits(s, 2, "the day needs two digits")?;
    let s = expect(s, 'T', "expected 'T' between the date and the time")?;
    let (hour, s) = digits(s, 2, "the hour needs two digits")?;
    let s = expect(s, ':', "expected ':' after the hour")?;
    let (minute, s) = digits(s, 2, "the minutes need two digits")?;
    let s = expect(s, ':', "expected ':' after the minutes")?;
    let (second, mut s) = digits(s, 2, "the seconds need two digits")?;
    let mut fraction_is_zero = true;
    if let Some(rest) = s.strip_prefix('.') {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return fail("expected digits after the decimal point");
        }
        fraction_is_zero = rest.bytes().take(n).all(|b| b == b'0');
        s = rest.get(n..).unwrap_or_default();
    }
    if !(1..=12).contains(&month) {
        return fail("the month is not 01-12");
    }
    if day == 0 || day > days_in_month(year, month) {
        return fail("the day does not exist in that month");
    }
    let midnight_end = hour == 24 && minute == 0 && second == 0 && fraction_is_zero;
    if (hour > 23 && !midnight_end) || minute > 59 || second > 59 {
        return fail("the time of day is out of range");
    }
    match s {
        "" | "Z" => Ok(()),
        offset => {
            let rest = offset
                .strip_prefix('+')
                .or_else(|| offset.strip_prefix('-'))
                .map_or_else(|| fail("expected Z, +hh:mm or -hh:mm after the time"), Ok)?;
            let (h, rest) = digits(rest, 2, "the offset's hours need two digits")?;
            let rest = expect(rest, ':', "expected ':' in the offset")?;
            let (m, rest) = digits(rest, 2, "the offset's minutes need two digits")?;
            if !rest.is_empty() {
                return fail("unexpected text after the offset");
            }
            if m > 59 || h * 60 + m > 14 * 60 {
                return fail("the offset is beyond ±14:00");
            }
            Ok(())
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_forms_the_inbox_uses() {
        for ok in [
            "2017-05-23T09:30:10+02:00",
            "2017-02-14T08:25:00+01:00",
            "2017-05-23T09:30:10.123Z",
            "2017-05-23T09:30:10",
            "2016-02-29T00:00:00-14:00",
            "2016-12-31T24:00:00Z",
            "-0044-03-15T12:00:00Z",
            "12017-01-01T00:00:00Z",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for bad in [
            "",
            "2017-05-23",
            "17-05-23T09:30:10Z",
            "2017-13-01T00:00:00Z",
            "2017-02-29T00:00:00Z",
            "2017-04-31T00:00:00Z",
            "2017-05-23T24:00:01Z",
            "2017-05-23T09:60:10Z",
            "2017-05-23T09:30:10+15:00",
            "2017-05-23T09:30:10+0200",
            "2017-05-23T09:30:10.Z",
            "2017-05-23 09:30:10Z",
            " 2017-05-23T09:30:10Z",
            "2017-05-23T09:30:10Zjunk",
            "02017-05-23T09:30:10Z",
            "2017-05-23T09:3ø:10Z",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = validate(&s);
        }
    }
}
