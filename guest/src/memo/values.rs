//! The lexical forms of MeMo's simple values: XML Schema booleans, dates, date-times and
//! integers, and UUIDs. Each parser says what a text is, never whether it is acceptable where it
//! stands: that is the validator's job ([`super::validate`]), and the tree and the receipt code
//! read values through these same parsers, so reading and checking agree.

/// XML Schema booleans (`true`, `false`, `1`, `0`).
pub fn parse_boolean(t: &str) -> Option<bool> {
    match t {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A UUID in 8-4-4-4-12 form, as far as MeMo cares: its version and variant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uuid {
    /// The version nibble (first digit of the third group).
    pub version: u8,
    /// The variant digit (first digit of the fourth group); RFC 4122 UUIDs have 8, 9, a or b.
    pub variant: u8,
}

impl Uuid {
    /// What MeMo's pattern asks for: version 4 and the RFC 4122 variant (`[89abAB]`).
    pub fn is_v4(self) -> bool {
        self.version == 4 && self.has_rfc4122_variant()
    }

    /// The variant digit is 8, 9, a or b.
    pub fn has_rfc4122_variant(self) -> bool {
        (8..=11).contains(&self.variant)
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Reads a UUID in 8-4-4-4-12 hexadecimal form; `None` when the text is not one. Works on the
/// bytes in place: it runs for every UUID in every message.
pub fn parse_uuid(t: &str) -> Option<Uuid> {
    let b = t.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        if dash != (c == b'-') || (!dash && !c.is_ascii_hexdigit()) {
            return None;
        }
    }
    Some(Uuid {
        version: hex(*b.get(14)?)?,
        variant: hex(*b.get(19)?)?,
    })
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD` with a real month and day.
fn is_plain_date(t: &str) -> bool {
    let mut parts = t.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
        return false;
    };
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn is_time(t: &str) -> bool {
    let (hms, fraction) = match t.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (t, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let mut parts = hms.split(':');
    let (Some(h), Some(m), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!((digits(h, 2), digits(m, 2), digits(s, 2)), (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s < 61)
}

/// `+hh:mm` or `-hh:mm` with hh at most 14.
fn is_offset(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) else {
        return false;
    };
    matches!(rest.split_once(':'), Some((h, m)) if digits(h, 2).is_some_and(|h| h <= 14) && digits(m, 2).is_some_and(|m| m < 60))
}

/// Splits an XML Schema zone (`Z`, `+hh:mm`, `-hh:mm`) off the end of a value.
fn split_zone(t: &str) -> (&str, Zone) {
    if let Some(rest) = t.strip_suffix('Z') {
        return (rest, Zone::Utc);
    }
    if let Some(split) = t.len().checked_sub(6)
        && let (Some(rest), Some(zone)) = (t.get(..split), t.get(split..))
        && is_offset(zone)
    {
        return (rest, Zone::Offset);
    }
    (t, Zone::Local)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Utc,
    Offset,
    Local,
}

/// An XML Schema date (`xs:date`): `YYYY-MM-DD`, optionally with a zone (`Z`, `+02:00`).
pub fn is_date(t: &str) -> bool {
    is_plain_date(split_zone(t).0)
}

/// How a date-time is zoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeKind {
    /// Ends in `Z`.
    Utc,
    /// Ends in `+hh:mm` or `-hh:mm`.
    Offset,
    /// No zone at all.
    Local,
    /// Not a date-time.
    Invalid,
}

/// Classifies an XML Schema date-time (`xs:dateTime`).
pub fn date_time_kind(t: &str) -> DateTimeKind {
    let Some((date, time)) = t.split_once('T') else {
        return DateTimeKind::Invalid;
    };
    if !is_plain_date(date) {
        return DateTimeKind::Invalid;
    }
    let (clock, zone) = split_zone(time);
    if !is_time(clock) {
        return DateTimeKind::Invalid;
    }
    match zone {
        Zone::Utc => DateTimeKind::Utc,
        Zone::Offset => DateTimeKind::Offset,
        Zone::Local => DateTimeKind::Local,
    }
}

/// Why a text is not an XML Schema integer within a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerError {
    /// Not `[+-]?[0-9]+`.
    NotInteger,
    /// Larger than the bound.
    TooLarge,
}

/// Checks an XML Schema integer (`[+-]?[0-9]+`) against an inclusive maximum, without
/// overflowing on long inputs: leading zeros do not count, as in XML Schema's value space.
pub fn check_integer(t: &str, max: u64) -> Result<(), IntegerError> {
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or_default()),
        Some(b'+') => (false, t.get(1..).unwrap_or_default()),
        _ => (false, t),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IntegerError::NotInteger);
    }
    if negative {
        return Ok(());
    }
    let significant = body.trim_start_matches('0');
    match significant.parse::<u64>() {
        Ok(v) if v <= max => Ok(()),
        _ if significant.is_empty() => Ok(()),
        _ => Err(IntegerError::TooLarge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_give_version_and_variant() {
        let u = parse_uuid("8C2EA15D-61FB-4BA9-9366-42F8B194C114").unwrap();
        assert!(u.is_v4());
        let u = parse_uuid("8c2ea15d-61fb-1ba9-9366-42f8b194c114").unwrap();
        assert_eq!((u.version, u.is_v4()), (1, false));
        let u = parse_uuid("8c2ea15d-61fb-4ba9-c366-42f8b194c114").unwrap();
        assert_eq!(u.version, 4);
        assert!(!u.has_rfc4122_variant());
        assert_eq!(parse_uuid("8c2ea15d61fb4ba9936642f8b194c114"), None);
        assert_eq!(parse_uuid("8c2ea15d-61fb-4ba9-9366-42f8b194c11g"), None);
        assert_eq!(parse_uuid("8c2ea15d-61fb-4ba9-9366-42f8b194c1144"), None);
        assert_eq!(parse_uuid("æc2ea15d-61fb-4ba9-9366-42f8b194c1"), None);
    }

    #[test]
    fn dates_take_an_optional_zone() {
        assert!(is_date("2025-09-15"));
        assert!(is_date("2025-09-15Z"));
        assert!(is_date("2025-09-15+02:00"));
        assert!(is_date("2025-09-15-11:30"));
        assert!(!is_date("2025-09-15+15:00"));
        assert!(!is_date("2025-09-15+0200"));
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-2-9"));
    }

    #[test]
    fn date_times_are_classified_by_zone() {
        assert_eq!(date_time_kind("2025-09-30T12:00:00Z"), DateTimeKind::Utc);
        assert_eq!(
            date_time_kind("2025-09-30T12:00:00.123Z"),
            DateTimeKind::Utc
        );
        assert_eq!(
            date_time_kind("2025-09-30T12:00:00+02:00"),
            DateTimeKind::Offset
        );
        assert_eq!(date_time_kind("2025-09-30T12:00:00"), DateTimeKind::Local);
        assert_eq!(
            date_time_kind("2025-02-30T12:00:00Z"),
            DateTimeKind::Invalid
        );
        assert_eq!(
            date_time_kind("2025-09-30T25:00:00Z"),
            DateTimeKind::Invalid
        );
        assert_eq!(date_time_kind("2025-09-30"), DateTimeKind::Invalid);
    }

    #[test]
    fn integers_are_bounded_by_value_not_by_digits() {
        assert_eq!(check_integer("9999999999", 9_999_999_999), Ok(()));
        assert_eq!(check_integer("0009999999999", 9_999_999_999), Ok(()));
        assert_eq!(
            check_integer("10000000000", 9_999_999_999),
            Err(IntegerError::TooLarge)
        );
        assert_eq!(
            check_integer("99999999999999999999999", 9),
            Err(IntegerError::TooLarge)
        );
        assert_eq!(
            check_integer("12345A7890", 9_999_999_999),
            Err(IntegerError::NotInteger)
        );
        assert_eq!(check_integer("", 9), Err(IntegerError::NotInteger));
        assert_eq!(check_integer("+", 9), Err(IntegerError::NotInteger));
        assert_eq!(check_integer("0", 9), Ok(()));
        assert_eq!(check_integer("-5", 9), Ok(()));
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_boolean("1"), Some(true));
        assert_eq!(parse_boolean("false"), Some(false));
        assert_eq!(parse_boolean("yes"), None);
    }
}
