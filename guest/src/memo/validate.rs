//! MeMo's value rules and the rules that span several elements.
//!
//! Structure (order, cardinality, unknown elements) is checked by the reader from the table in
//! [`super::schema`]; this module says whether one value is acceptable, and whether a complete
//! element is consistent (an idType CPR with a 10-digit id, a NEMSMS with a notification...).

use super::constants::{CPR_DIGITS, CVR_DIGITS, FORBIDDEN_FILENAME_CHARS, MAX_URL};
use super::model::MemoVersion;
use super::problem::{Code, Severity};
use super::schema::{Ty, Value};
use super::tree::Node;

/// A rule broken by one value or element, not yet placed in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// The child element the finding is about, when it is not the element itself.
    pub child: Option<(String, super::problem::Position)>,
}

fn error(code: Code, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        code,
        message,
        child: None,
    }
}

fn warning(code: Code, message: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        code,
        message,
        child: None,
    }
}

/// Whether a value type ignores surrounding white space (XML Schema's token-like types).
pub fn is_token(value: Value) -> bool {
    !matches!(value, Value::Text(_) | Value::Id | Value::Filename)
}

/// Checks one simple value. `chars` is the value's full length in characters (the text may
/// have been truncated for storage).
pub fn value(value: Value, text: &str, chars: usize, version: MemoVersion) -> Option<Finding> {
    let t = if is_token(value) { text.trim() } else { text };
    match value {
        Value::Text(max) => (chars > max).then(|| {
            error(
                Code::TooLong,
                format!("{chars} characters; at most {max} are allowed"),
            )
        }),
        Value::Id => (chars > super::constants::MAX_STRING).then(|| {
            error(
                Code::TooLong,
                format!(
                    "{chars} characters; at most {} are allowed",
                    super::constants::MAX_STRING
                ),
            )
        }),
        Value::Enumeration(allowed) => (!allowed.contains(&t)).then(|| {
            error(
                Code::InvalidEnumeration,
                format!("{t:?} is not one of {}", allowed.join(", ")),
            )
        }),
        Value::Known(known) => {
            if chars > super::constants::MAX_STRING {
                Some(error(
                    Code::TooLong,
                    format!("{chars} characters; at most 256 are allowed"),
                ))
            } else if !known.contains(&t) {
                Some(warning(
                    Code::UnknownValue,
                    format!("{t:?} is not one of the known values {}", known.join(", ")),
                ))
            } else {
                None
            }
        }
        Value::Uuid4 => match uuid_version(t) {
            None => Some(error(
                Code::InvalidUuid,
                format!("{t:?} is not a UUID (8-4-4-4-12 hexadecimal digits)"),
            )),
            Some(4) => None,
            Some(v) => Some(error(
                Code::NotUuidV4,
                format!("{t:?} is a version {v} UUID; MeMo requires version 4"),
            )),
        },
        Value::Uuid => uuid_version(t).is_none().then(|| {
            error(
                Code::InvalidUuid,
                format!("{t:?} is not a UUID (8-4-4-4-12 hexadecimal digits)"),
            )
        }),
        Value::DateTime => date_time(t),
        Value::Date => (!is_date(t)).then(|| {
            error(
                Code::InvalidDate,
                format!("{t:?} is not a date such as 2025-09-15"),
            )
        }),
        Value::Boolean => parse_boolean(t)
            .is_none()
            .then(|| error(Code::InvalidBoolean, format!("{t:?} is not true or false"))),
        Value::Language => {
            (!(t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()))).then(|| {
                error(
                    Code::InvalidLanguage,
                    format!("{t:?} is not a two-letter language code such as da"),
                )
            })
        }
        Value::MimeType => mime_type(t, chars),
        Value::Filename => filename(text, chars),
        Value::Url => url(t, chars, version),
    }
}

/// XML Schema booleans.
pub fn parse_boolean(t: &str) -> Option<bool> {
    match t {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The version nibble of a UUID in 8-4-4-4-12 form, or `None` when it is not one. A version 4
/// UUID must also carry the RFC 4122 variant; one that does not is reported as version 0.
pub fn uuid_version(t: &str) -> Option<u32> {
    let groups: Vec<&str> = t.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    if groups.len() != 5
        || groups
            .iter()
            .zip(lengths)
            .any(|(g, n)| g.len() != n || !g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    let version = groups.get(2)?.chars().next()?.to_digit(16)?;
    let variant = groups.get(3)?.chars().next()?.to_digit(16)?;
    if version == 4 && !(8..=11).contains(&variant) {
        return Some(0);
    }
    Some(version)
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

/// An XML date, optionally with `Z` (MeMo uses plain dates).
pub fn is_date(t: &str) -> bool {
    is_plain_date(t.strip_suffix('Z').unwrap_or(t))
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

fn is_offset(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) else {
        return false;
    };
    matches!(rest.split_once(':'), Some((h, m)) if digits(h, 2).is_some_and(|h| h <= 14) && digits(m, 2).is_some_and(|m| m < 60))
}

/// Checks an XML date-time that MeMo requires in UTC.
pub fn date_time(t: &str) -> Option<Finding> {
    match date_time_kind(t) {
        DateTimeKind::Utc => None,
        DateTimeKind::Offset | DateTimeKind::Local => Some(error(
            Code::DateTimeNotUtc,
            format!("{t:?} is not in UTC; MeMo date-times end in Z, e.g. 2025-09-30T12:00:00Z"),
        )),
        DateTimeKind::Invalid => Some(error(
            Code::InvalidDateTime,
            format!("{t:?} is not a date-time such as 2025-09-30T12:00:00Z"),
        )),
    }
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

/// Classifies an XML date-time.
pub fn date_time_kind(t: &str) -> DateTimeKind {
    let Some((date, time)) = t.split_once('T') else {
        return DateTimeKind::Invalid;
    };
    if !is_plain_date(date) {
        return DateTimeKind::Invalid;
    }
    if let Some(clock) = time.strip_suffix('Z') {
        return if is_time(clock) {
            DateTimeKind::Utc
        } else {
            DateTimeKind::Invalid
        };
    }
    if time.len() > 6 {
        let split = time.len() - 6;
        if let (Some(clock), Some(zone)) = (time.get(..split), time.get(split..))
            && is_offset(zone)
        {
            return if is_time(clock) {
                DateTimeKind::Offset
            } else {
                DateTimeKind::Invalid
            };
        }
    }
    if is_time(time) {
        DateTimeKind::Local
    } else {
        DateTimeKind::Invalid
    }
}

fn mime_type(t: &str, chars: usize) -> Option<Finding> {
    if chars > super::constants::MAX_STRING {
        return Some(error(
            Code::TooLong,
            format!("{chars} characters; at most 256 are allowed"),
        ));
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    let essence = t.split(';').next().unwrap_or("").trim();
    let ok = matches!(essence.split_once('/'), Some((a, b)) if token(a) && token(b));
    (!ok).then(|| {
        error(
            Code::InvalidMimeType,
            format!("{t:?} is not a MIME type such as application/pdf"),
        )
    })
}

fn filename(t: &str, chars: usize) -> Option<Finding> {
    if chars > super::constants::MAX_STRING {
        return Some(error(
            Code::TooLong,
            format!("{chars} characters; at most 256 are allowed"),
        ));
    }
    if t.trim().is_empty() {
        return Some(error(Code::InvalidFilename, "the filename is empty".into()));
    }
    t.chars().find(|c| FORBIDDEN_FILENAME_CHARS.contains(c)).map(|c| {
        error(
            Code::InvalidFilename,
            format!("the filename {t:?} contains {c:?} (U+{:04X}), which NgDP does not allow in filenames", c as u32),
        )
    })
}

fn url(t: &str, chars: usize, version: MemoVersion) -> Option<Finding> {
    if chars > MAX_URL {
        return Some(error(
            Code::TooLong,
            format!("{chars} characters; at most {MAX_URL} are allowed"),
        ));
    }
    let https = t
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        && t.len() > 8;
    if https {
        return None;
    }
    let message = format!("{t:?} is not an https URL; Action URLs must use https");
    // MeMo 1.1's own full example links with http, so for 1.1 this is a warning; from 1.2 on
    // (whose example was corrected to https) NgDP refuses it.
    Some(match version {
        MemoVersion::V1_1 => warning(Code::UrlNotHttps, message),
        MemoVersion::V1_2 => error(Code::UrlNotHttps, message),
    })
}

/// Rules that need a whole element: run when it ends.
pub fn element(ty: Ty, node: &Node) -> Vec<Finding> {
    let mut out = Vec::new();
    match ty {
        Ty::Sender | Ty::Recipient | Ty::Representative => {
            let id_name = match ty {
                Ty::Sender => "senderID",
                Ty::Recipient => "recipientID",
                _ => "representativeID",
            };
            if let (Some(id), Some(id_type)) = (node.child(id_name), node.child("idType")) {
                let check = match id_type.text.trim() {
                    "CPR" => Some((CPR_DIGITS, Code::InvalidCpr, "CPR")),
                    "CVR" => Some((CVR_DIGITS, Code::InvalidCvr, "CVR")),
                    _ => None,
                };
                if let Some((n, code, name)) = check {
                    let v = id.text.as_str();
                    if v.len() != n || !v.bytes().all(|b| b.is_ascii_digit()) {
                        out.push(Finding {
                            severity: Severity::Error,
                            code,
                            message: format!("{v:?} is not a {name} number: idType {name} needs exactly {n} digits"),
                            child: Some((id_name.to_string(), id.position)),
                        });
                    }
                }
            }
        }
        Ty::Header => {
            let nemsms = node
                .child("messageType")
                .is_some_and(|t| t.text.trim() == "NEMSMS");
            let notification = node.child("notification");
            if nemsms && notification.is_none_or(|n| n.text.trim().is_empty()) {
                out.push(Finding {
                    severity: Severity::Error,
                    code: Code::NemsmsNotificationRequired,
                    message: "a NEMSMS message needs a non-empty notification: it is the text sent"
                        .into(),
                    child: Some((
                        "notification".into(),
                        notification.map(|n| n.position).unwrap_or(node.position),
                    )),
                });
            }
        }
        Ty::Action if node.child("Reservation").is_some() && node.child("EntryPoint").is_some() => {
            out.push(error(
                Code::ChoiceConflict,
                "an Action has either a Reservation or an EntryPoint, not both".into(),
            ));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(v: Value, t: &str) -> Option<Code> {
        value(v, t, t.chars().count(), MemoVersion::V1_2).map(|f| f.code)
    }

    #[test]
    fn uuids() {
        assert_eq!(
            uuid_version("8C2EA15D-61FB-4BA9-9366-42F8B194C114"),
            Some(4)
        );
        assert_eq!(
            uuid_version("8c2ea15d-61fb-1ba9-9366-42f8b194c114"),
            Some(1)
        );
        assert_eq!(
            uuid_version("8c2ea15d-61fb-4ba9-c366-42f8b194c114"),
            Some(0)
        );
        assert_eq!(uuid_version("8c2ea15d61fb4ba9936642f8b194c114"), None);
        assert_eq!(uuid_version("8c2ea15d-61fb-4ba9-9366-42f8b194c11g"), None);
        assert_eq!(
            code(Value::Uuid4, "8c2ea15d-61fb-1ba9-9366-42f8b194c114"),
            Some(Code::NotUuidV4)
        );
        assert_eq!(code(Value::Uuid4, "nope"), Some(Code::InvalidUuid));
    }

    #[test]
    fn dates_and_times() {
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
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-2-9"));
        assert_eq!(
            code(Value::DateTime, "2025-09-30T12:00:00+02:00"),
            Some(Code::DateTimeNotUtc)
        );
        assert_eq!(code(Value::DateTime, " 2025-09-30T12:00:00Z\n"), None);
    }

    #[test]
    fn simple_values() {
        assert_eq!(code(Value::Text(5), "æøåæø"), None);
        assert_eq!(code(Value::Text(5), "æøåæøx"), Some(Code::TooLong));
        assert_eq!(code(Value::Boolean, "yes"), Some(Code::InvalidBoolean));
        assert_eq!(code(Value::Boolean, "1"), None);
        assert_eq!(code(Value::Language, "dan"), Some(Code::InvalidLanguage));
        assert_eq!(code(Value::MimeType, "application/pdf"), None);
        assert_eq!(code(Value::MimeType, "pdf"), Some(Code::InvalidMimeType));
        assert_eq!(
            code(Value::Enumeration(&["A"]), "B"),
            Some(Code::InvalidEnumeration)
        );
        assert_eq!(code(Value::Known(&["A"]), "B"), Some(Code::UnknownValue));
    }

    #[test]
    fn filenames_refuse_each_forbidden_character() {
        assert_eq!(code(Value::Filename, "Praktiske oplysninger.doc"), None);
        assert_eq!(code(Value::Filename, ""), Some(Code::InvalidFilename));
        for c in FORBIDDEN_FILENAME_CHARS {
            assert_eq!(
                code(Value::Filename, &format!("a{c}b.pdf")),
                Some(Code::InvalidFilename),
                "{c:?}"
            );
        }
    }

    #[test]
    fn urls_must_be_https_strictly_from_1_2() {
        assert_eq!(code(Value::Url, "https://x.dk"), None);
        assert_eq!(code(Value::Url, "http://x.dk"), Some(Code::UrlNotHttps));
        let v11 = value(Value::Url, "http://x.dk", 11, MemoVersion::V1_1).unwrap();
        assert_eq!(v11.severity, Severity::Warning);
    }
}
