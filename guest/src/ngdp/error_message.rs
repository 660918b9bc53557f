//! NgDP's error body, `ErrorMessage`, and the text a person sees for a refused call.
//!
//! Published shape (NgDP OpenAPI document 1.68.0, schema `ErrorMessage`; `docs/ngdp-wire.md`):
//! `{"code", "message", "fieldErrors": [{"resource", "field", "code", "message",
//! "rejectedValue"}]}`, no member marked required. Most operations answer their 4xx with it;
//! the document lists 401 and 403 of some operations (e.g. CreateReceipt) without a body
//! schema, so a body that is not an `ErrorMessage` is shown as text, shortened.

/// Longest stretch of a plain (non-`ErrorMessage`) body shown.
const MAX_PLAIN: usize = 300;
/// Longest single value (code, message, rejected value) shown.
const MAX_VALUE: usize = 500;

/// One `fieldErrors` item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldError {
    /// `resource`.
    pub resource: Option<String>,
    /// `field`.
    pub field: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `message`.
    pub message: Option<String>,
    /// `rejectedValue`, as JSON text (it may be any JSON value).
    pub rejected_value: Option<String>,
}

/// An `ErrorMessage` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorMessage {
    /// `code`: NgDP's error code. The codes are not enumerated in the published document.
    pub code: Option<String>,
    /// `message`.
    pub message: Option<String>,
    /// `fieldErrors`.
    pub field_errors: Vec<FieldError>,
}

/// A refused call as dpost reports it: the status, NgDP's `ErrorMessage` when the body is
/// one, and one line of text for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The body read as an `ErrorMessage`, when it is one.
    pub error_message: Option<ErrorMessage>,
    /// `HTTP 400: CODE: message; field resource.field: code: message (rejected: value)`, or
    /// `HTTP 401: <body text, shortened>`.
    pub text: String,
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

fn text_member(o: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(shorten(s, MAX_VALUE)),
        other => Some(shorten(&other.to_string(), MAX_VALUE)),
    }
}

/// The body read as an `ErrorMessage`: a JSON object carrying at least one of `code`,
/// `message` or `fieldErrors`. Anything else is `None` (a plain body).
pub fn parse(body: &str) -> Option<ErrorMessage> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let o = value.as_object()?;
    if !["code", "message", "fieldErrors"]
        .iter()
        .any(|k| o.contains_key(*k))
    {
        return None;
    }
    let field_errors = match o.get("fieldErrors") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_object())
            .map(|f| FieldError {
                resource: text_member(f, "resource"),
                field: text_member(f, "field"),
                code: text_member(f, "code"),
                message: text_member(f, "message"),
                rejected_value: match f.get("rejectedValue") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(v) => Some(shorten(&v.to_string(), MAX_VALUE)),
                },
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(ErrorMessage {
        code: text_member(o, "code"),
        message: text_member(o, "message"),
        field_errors,
    })
}

/// One line for a person: the status, then the `ErrorMessage`'s code, message and each field
/// error; for a plain body, the body's text shortened (its first line's worth).
pub fn explain(status: u16, body: &str) -> ApiError {
    let error_message = parse(body);
    let mut text = format!("HTTP {status}");
    match &error_message {
        Some(e) => {
            let head: Vec<&str> = [e.code.as_deref(), e.message.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !head.is_empty() {
                text.push_str(": ");
                text.push_str(&head.join(": "));
            }
            for f in &e.field_errors {
                let place: Vec<&str> = [f.resource.as_deref(), f.field.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                text.push_str("; field ");
                text.push_str(
                    if place.is_empty() {
                        "?".into()
                    } else {
                        place.join(".")
                    }
                    .as_str(),
                );
                for part in [f.code.as_deref(), f.message.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    text.push_str(": ");
                    text.push_str(part);
                }
                if let Some(v) = &f.rejected_value {
                    text.push_str(&format!(" (rejected: {v})"));
                }
            }
        }
        None => {
            let plain: String = body
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let plain = shorten(&plain, MAX_PLAIN);
            if !plain.is_empty() {
                text.push_str(": ");
                text.push_str(&plain);
            }
        }
    }
    ApiError {
        status,
        error_message,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_message_shows_code_message_and_each_field_error() {
        let body = r#"{"code":"VALIDATION_ERROR","message":"Receipt is invalid",
            "fieldErrors":[{"resource":"receipt","field":"timeStamp","code":"NotNull",
            "message":"must not be null","rejectedValue":null},
            {"field":"messageUUID","code":"Pattern","rejectedValue":"x"}]}"#;
        let e = explain(400, body);
        assert_eq!(e.error_message.as_ref().unwrap().field_errors.len(), 2);
        assert_eq!(
            e.text,
            "HTTP 400: VALIDATION_ERROR: Receipt is invalid; field receipt.timeStamp: NotNull: \
             must not be null; field messageUUID: Pattern (rejected: \"x\")"
        );
    }

    #[test]
    fn a_plain_body_is_shown_shortened() {
        let e = explain(401, "Unauthorized\r\n");
        assert_eq!(e.error_message, None);
        assert_eq!(e.text, "HTTP 401: Unauthorized");
        let long = "x".repeat(1000);
        assert!(explain(403, &long).text.len() < 320);
        assert_eq!(explain(503, "").text, "HTTP 503");
        // JSON that is not an ErrorMessage is a plain body.
        assert_eq!(explain(404, "[1]").error_message, None);
        assert_eq!(explain(404, r#"{"a":1}"#).error_message, None);
    }

    #[test]
    fn odd_member_types_do_not_fail() {
        let e = explain(400, r#"{"code":7,"fieldErrors":"no"}"#);
        assert_eq!(e.text, "HTTP 400: 7");
    }
}
