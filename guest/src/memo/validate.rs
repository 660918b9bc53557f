//! MeMo's value rules and the rules that span several elements.
//!
//! Structure (order, cardinality, unknown elements) is checked by the reader from the table in
//! [`super::schema`]; this module says whether one value is acceptable, and whether a complete
//! element is consistent (an idType CPR with a 10-digit id, a NEMSMS with a notification...).
//! The lexical forms themselves are read by [`super::values`].

use super::constants::{CPR_DIGITS, CVR_DIGITS, FORBIDDEN_FILENAME_CHARS, MAX_STRING};
use super::model::MemoVersion;
use super::problem::{Code, Severity};
use super::schema::{Ty, Value};
use super::tree::Node;
use super::values::{
    DateTimeKind, IntegerError, check_integer, date_time_kind, is_date, parse_boolean, parse_uuid,
};

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
    !matches!(
        value,
        Value::Text(_) | Value::Id | Value::Filename | Value::Cpr | Value::Cvr
    )
}

fn too_long(chars: usize, max: usize) -> Option<Finding> {
    (chars > max).then(|| {
        error(
            Code::TooLong,
            format!("{chars} characters; at most {max} are allowed"),
        )
    })
}

/// Checks one simple value. `chars` is the value's full length in characters (the text may
/// have been truncated for storage).
pub fn value(value: Value, text: &str, chars: usize, version: MemoVersion) -> Option<Finding> {
    let t = if is_token(value) { text.trim() } else { text };
    match value {
        Value::Text(max) => too_long(chars, max),
        Value::Id => too_long(chars, MAX_STRING),
        Value::Enumeration(allowed) => (!allowed.contains(&t)).then(|| {
            error(
                Code::InvalidEnumeration,
                format!("{t:?} is not one of {}", allowed.join(", ")),
            )
        }),
        Value::Known(known) => too_long(chars, MAX_STRING).or_else(|| {
            (!known.contains(&t)).then(|| {
                warning(
                    Code::UnknownValue,
                    format!("{t:?} is not one of the known values {}", known.join(", ")),
                )
            })
        }),
        Value::Uuid4 => uuid4(t),
        Value::DateTime => date_time(t),
        Value::Date => (!is_date(t)).then(|| {
            error(
                Code::InvalidDate,
                format!(
                    "{t:?} is not a date such as 2025-09-15 (a zone such as +02:00 may follow)"
                ),
            )
        }),
        Value::Boolean => parse_boolean(t)
            .is_none()
            .then(|| error(Code::InvalidBoolean, format!("{t:?} is not true or false"))),
        Value::Language => language(t),
        Value::MimeType => too_long(chars, MAX_STRING).or_else(|| mime_type(t)),
        Value::Filename => filename(text, chars),
        Value::Url => url(t, chars, version),
        Value::Integer(max) => match check_integer(t, max) {
            Ok(()) => None,
            Err(IntegerError::NotInteger) => Some(error(
                Code::InvalidNumber,
                format!("{t:?} is not a whole number (digits only)"),
            )),
            Err(IntegerError::TooLarge) => Some(error(
                Code::InvalidNumber,
                format!("{t:?} is larger than {max}, the largest allowed here"),
            )),
        },
        Value::Cpr => too_long(chars, MAX_STRING)
            .or_else(|| digits_rule(text, CPR_DIGITS, Code::InvalidCpr, "a CPR number")),
        Value::Cvr => too_long(chars, MAX_STRING)
            .or_else(|| digits_rule(text, CVR_DIGITS, Code::InvalidCvr, "a CVR number")),
    }
}

/// MeMo's rule for CPR (10 digits) and CVR (8 digits) numbers.
fn digits_rule(v: &str, n: usize, code: Code, what: &str) -> Option<Finding> {
    (v.len() != n || !v.bytes().all(|b| b.is_ascii_digit())).then(|| {
        error(
            code,
            format!("{v:?} is not {what}: it needs exactly {n} digits"),
        )
    })
}

/// MeMo's UUID pattern: `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`. Says which part is wrong.
fn uuid4(t: &str) -> Option<Finding> {
    let Some(u) = parse_uuid(t) else {
        return Some(error(
            Code::InvalidUuid,
            format!("{t:?} is not a UUID (8-4-4-4-12 hexadecimal digits)"),
        ));
    };
    if u.version != 4 {
        return Some(error(
            Code::NotUuidV4,
            format!(
                "{t:?} is a version {} UUID; MeMo requires version 4 (the first digit of the third group must be 4)",
                u.version
            ),
        ));
    }
    (!u.has_rfc4122_variant()).then(|| {
        error(
            Code::NotUuidV4,
            format!(
                "{t:?} has the version digit 4 but not the RFC 4122 variant: the first digit of the fourth group is {:x}, and MeMo requires 8, 9, a or b",
                u.variant
            ),
        )
    })
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

/// The schema allows at most two characters; anything but two letters is a warning, since
/// NgDP documents language as a two-letter code but the schema does not enforce it.
fn language(t: &str) -> Option<Finding> {
    let chars = t.chars().count();
    if chars > 2 {
        return Some(error(
            Code::InvalidLanguage,
            format!("{t:?} has {chars} characters; a language is a two-letter code such as da"),
        ));
    }
    (!(t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()))).then(|| {
        warning(
            Code::InvalidLanguage,
            format!("{t:?} is not a two-letter language code such as da"),
        )
    })
}

/// The schema types `encodingFormat` as a string, so a value that is not `type/subtype` is a
/// warning: a receiver cannot tell how to show the file, but the message is valid.
fn mime_type(t: &str) -> Option<Finding> {
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    let essence = t.split(';').next().unwrap_or("").trim();
    let ok = matches!(essence.split_once('/'), Some((a, b)) if token(a) && token(b));
    (!ok).then(|| {
        warning(
            Code::InvalidMimeType,
            format!("{t:?} is not a MIME type such as application/pdf"),
        )
    })
}

fn filename(t: &str, chars: usize) -> Option<Finding> {
    if let Some(f) = too_long(chars, MAX_STRING) {
        return Some(f);
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

/// Action URLs: at most 256 characters (the schema), and https (MeMo's rule). MeMo 1.1's own
/// full example links with `http:`, so in 1.1 an `http:` URL is a warning; from 1.2 (whose
/// example was corrected to https) it is an error. Any other scheme (`javascript:`, `data:`,
/// `file:`...) or no scheme at all is an error in every version: a link a citizen clicks must
/// not run script or open local files.
fn url(t: &str, chars: usize, version: MemoVersion) -> Option<Finding> {
    if let Some(f) = too_long(chars, MAX_STRING) {
        return Some(f);
    }
    let scheme =
        |s: &str| t.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)) && t.len() > s.len();
    if scheme("https://") {
        return None;
    }
    if scheme("http://") {
        let message = format!("{t:?} is not an https URL; Action URLs must use https");
        return Some(match version {
            MemoVersion::V1_1 => warning(Code::UrlNotHttps, message),
            MemoVersion::V1_2 => error(Code::UrlNotHttps, message),
        });
    }
    Some(error(
        Code::UrlNotHttps,
        format!("{t:?} is not an https URL; Action URLs must be https links"),
    ))
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

    fn finding(v: Value, t: &str, version: MemoVersion) -> Option<Finding> {
        value(v, t, t.chars().count(), version)
    }

    #[test]
    fn uuids() {
        assert_eq!(
            code(Value::Uuid4, "8C2EA15D-61FB-4BA9-9366-42F8B194C114"),
            None
        );
        assert_eq!(
            code(Value::Uuid4, "8c2ea15d-61fb-1ba9-9366-42f8b194c114"),
            Some(Code::NotUuidV4)
        );
        assert_eq!(code(Value::Uuid4, "nope"), Some(Code::InvalidUuid));
    }

    /// Regression (issue 14): a version-4 UUID with a bad variant digit was called "version 0".
    #[test]
    fn a_bad_variant_is_named_as_such() {
        let f = finding(
            Value::Uuid4,
            "8c2ea15d-61fb-4ba9-c366-42f8b194c114",
            MemoVersion::V1_2,
        )
        .unwrap();
        assert_eq!(f.code, Code::NotUuidV4);
        assert!(f.message.contains("variant"), "{}", f.message);
        assert!(!f.message.contains("version 0"), "{}", f.message);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            code(Value::DateTime, "2025-09-30T12:00:00+02:00"),
            Some(Code::DateTimeNotUtc)
        );
        assert_eq!(code(Value::DateTime, " 2025-09-30T12:00:00Z\n"), None);
        // Regression (issue 14): xs:date takes a zone.
        assert_eq!(code(Value::Date, "2025-09-15+02:00"), None);
        assert_eq!(code(Value::Date, "2025-09-15Z"), None);
        assert_eq!(code(Value::Date, "15-09-2025"), Some(Code::InvalidDate));
    }

    #[test]
    fn simple_values() {
        assert_eq!(code(Value::Text(5), "æøåæø"), None);
        assert_eq!(code(Value::Text(5), "æøåæøx"), Some(Code::TooLong));
        assert_eq!(code(Value::Boolean, "yes"), Some(Code::InvalidBoolean));
        assert_eq!(code(Value::Boolean, "1"), None);
        assert_eq!(code(Value::Language, "dan"), Some(Code::InvalidLanguage));
        assert_eq!(
            finding(Value::Language, "d1", MemoVersion::V1_2).map(|f| f.severity),
            Some(Severity::Warning)
        );
        assert_eq!(code(Value::MimeType, "application/pdf"), None);
        assert_eq!(
            finding(Value::MimeType, "pdf", MemoVersion::V1_2).map(|f| f.severity),
            Some(Severity::Warning)
        );
        assert_eq!(
            code(Value::Enumeration(&["A"]), "B"),
            Some(Code::InvalidEnumeration)
        );
        assert_eq!(code(Value::Known(&["A"]), "B"), Some(Code::UnknownValue));
        assert_eq!(code(Value::Integer(99), "99"), None);
        assert_eq!(code(Value::Integer(99), "100"), Some(Code::InvalidNumber));
        assert_eq!(code(Value::Integer(99), "9a"), Some(Code::InvalidNumber));
        assert_eq!(code(Value::Cpr, "2512169996"), None);
        assert_eq!(code(Value::Cpr, "251216999"), Some(Code::InvalidCpr));
        assert_eq!(code(Value::Cvr, "1234567A"), Some(Code::InvalidCvr));
        assert_eq!(code(Value::Cpr, &"1".repeat(257)), Some(Code::TooLong));
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
        let v11 = finding(Value::Url, "http://x.dk", MemoVersion::V1_1).unwrap();
        assert_eq!(v11.severity, Severity::Warning);
        assert_eq!(
            code(Value::Url, &format!("https://{}", "a".repeat(249))),
            Some(Code::TooLong)
        );
    }

    /// Regression (issue 14): a `javascript:` URL is an error in every version.
    #[test]
    fn script_urls_are_errors_in_every_version() {
        for version in [MemoVersion::V1_1, MemoVersion::V1_2] {
            for u in [
                "javascript:alert(1)",
                "JavaScript:x",
                "data:text/html,x",
                "www.x.dk",
            ] {
                let f = finding(Value::Url, u, version).unwrap();
                assert_eq!(
                    (f.severity, f.code),
                    (Severity::Error, Code::UrlNotHttps),
                    "{u}"
                );
            }
        }
    }
}
