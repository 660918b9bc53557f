//! Digipost's error document, the body of every 4xx and 5xx answer:
//! `<error><error-code/><error-message/><error-type/></error>`.
//!
//! The code is what a program acts on (a bad signature is fixed differently from an unknown
//! document); the message is for a person, and for a 403 it carries the server's canonical
//! string (see [`super::signature_echo`]).

use super::xml::{self, SchemaVersion, Trail, WriteError, XmlError, XmlProblem};

/// What went wrong, as Digipost names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    /// The request's signature does not verify against the broker's certificate.
    InvalidSignature,
    /// The request carries no `X-Digipost-Signature`.
    MissingSignature,
    /// The request's `Date` is more than five minutes from the server's clock.
    DateHeaderOutsideAcceptedInterval,
    /// `X-Content-SHA256` does not match the body.
    InvalidSha256,
    /// `X-Digipost-UserId` names no known broker.
    UnknownUserId,
    /// The broker may not act for this sender.
    BrokerNotAuthorized,
    /// No such document in this inbox.
    DocumentNotFound,
    /// A code this version does not know, as the server wrote it. Holds only values that
    /// [`ErrorCode::parse`] does not recognise.
    Other(String),
}

impl ErrorCode {
    const KNOWN: [(&'static str, ErrorCode); 7] = [
        ("INVALID_SIGNATURE", ErrorCode::InvalidSignature),
        ("MISSING_SIGNATURE", ErrorCode::MissingSignature),
        (
            "DATE_HEADER_OUTSIDE_ACCEPTED_INTERVAL",
            ErrorCode::DateHeaderOutsideAcceptedInterval,
        ),
        ("INVALID_SHA256", ErrorCode::InvalidSha256),
        ("UNKNOWN_USER_ID", ErrorCode::UnknownUserId),
        ("BROKER_NOT_AUTHORIZED", ErrorCode::BrokerNotAuthorized),
        ("DOCUMENT_NOT_FOUND", ErrorCode::DocumentNotFound),
    ];

    /// The code named by `value`; unknown codes are kept, since Digipost has many more than
    /// this client acts on.
    pub fn parse(value: &str) -> ErrorCode {
        Self::KNOWN
            .iter()
            .find(|(name, _)| *name == value)
            .map_or_else(
                || ErrorCode::Other(value.to_owned()),
                |(_, code)| code.clone(),
            )
    }

    /// The code as Digipost spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(_, c)| c == known)
                .map_or("", |(name, _)| name),
        }
    }
}

/// A Digipost error document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// The explanation for a person, when given.
    pub message: Option<String>,
    /// Digipost's classification (for example `CLIENT_DATA`, `CLIENT_TECHNICAL`, `SERVER`),
    /// when given.
    pub error_type: Option<String>,
}

/// Read an `<error>` document (v7, v8 or no namespace).
pub fn parse_error_body(xml: &[u8]) -> Result<ErrorBody, XmlError> {
    let doc = xml::read(xml)?;
    let root = doc.expect_root("error")?;
    let trail = Trail::root("error");
    let mut code = None;
    let mut message = None;
    let mut error_type = None;
    for child in root.children.iter().filter(|c| c.is_digipost()) {
        let slot = match child.name.as_str() {
            "error-code" => &mut code,
            "error-message" => &mut message,
            "error-type" => &mut error_type,
            _ => continue,
        };
        if slot.is_some() {
            let here = trail.child(&child.name);
            return Err(doc.error(
                child,
                &here,
                XmlProblem::DuplicateElement(child.name.clone()),
            ));
        }
        *slot = Some(child);
    }
    let code = code.ok_or_else(|| {
        doc.error(
            root,
            &trail,
            XmlProblem::MissingElement("error-code".into()),
        )
    })?;
    let code_text = code.text.trim();
    if code_text.is_empty() {
        let here = trail.child("error-code");
        let problem = XmlProblem::InvalidValue {
            value: code.text.clone(),
            reason: "is empty".into(),
        };
        return Err(doc.error(code, &here, problem));
    }
    Ok(ErrorBody {
        code: ErrorCode::parse(code_text),
        // The message may hold a canonical string whose line breaks matter; keep it whole.
        message: message.map(|m| m.text.clone()),
        error_type: error_type.map(|t| t.text.trim().to_owned()),
    })
}

/// Write an `<error>` document in the namespace of `version`.
pub fn write_error_body(body: &ErrorBody, version: SchemaVersion) -> Result<String, WriteError> {
    let mut w = xml::Writer::new("error", version);
    w.text_element("error-code", body.code.as_str())?;
    w.optional_element("error-message", body.message.as_deref())?;
    w.optional_element("error-type", body.error_type.as_deref())?;
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_a_signature_error_and_keeps_the_echo() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
            <error xmlns=\"http://api.digipost.no/schema/v8\"><error-code>INVALID_SIGNATURE</error-code>\
            <error-message>Signaturen er ugyldig ===START===\nGET\n/9999/inbox\n===SLUTT===</error-message>\
            <error-type>CLIENT_TECHNICAL</error-type></error>";
        let body = parse_error_body(xml.as_bytes()).unwrap();
        assert_eq!(body.code, ErrorCode::InvalidSignature);
        assert_eq!(body.error_type.as_deref(), Some("CLIENT_TECHNICAL"));
        let message = body.message.unwrap();
        assert_eq!(
            crate::digipost::signature_echo::server_canonical_from_error(&message).as_deref(),
            Some("GET\n/9999/inbox\n")
        );
    }

    #[test]
    fn every_known_code_and_unknown_ones() {
        for (name, code) in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::parse(name), code);
            assert_eq!(code.as_str(), name);
            let xml = format!("<error>\n <error-code> {name} </error-code>\n</error>");
            let body = parse_error_body(xml.as_bytes()).unwrap();
            assert_eq!(
                body,
                ErrorBody {
                    code,
                    message: None,
                    error_type: None
                }
            );
        }
        let body = parse_error_body(b"<v7:error xmlns:v7=\"http://api.digipost.no/schema/v7\"><v7:error-code>SOMETHING_NEW</v7:error-code></v7:error>").unwrap();
        assert_eq!(body.code, ErrorCode::Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn refuses_what_is_not_an_error_document() {
        let e = parse_error_body(b"<error>\n<error-message>x</error-message></error>").unwrap_err();
        assert_eq!(
            (e.problem, e.path.as_str(), e.line),
            (XmlProblem::MissingElement("error-code".into()), "/error", 1)
        );
        let e = parse_error_body(b"<error><error-code> </error-code></error>").unwrap_err();
        assert_eq!(e.path, "/error/error-code");
        let e = parse_error_body(
            b"<error><error-code>A</error-code><error-code>B</error-code></error>",
        )
        .unwrap_err();
        assert_eq!(e.problem, XmlProblem::DuplicateElement("error-code".into()));
        assert!(parse_error_body(b"<inbox/>").is_err());
        assert!(parse_error_body(b"Forbidden").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(
            code in prop_oneof![
                Just("DOCUMENT_NOT_FOUND".to_owned()),
                Just("UNKNOWN_USER_ID".to_owned()),
                "[A-Z_]{1,20}",
            ],
            message in proptest::option::of("[ -~æøå\r\n\t]{0,40}"),
            error_type in proptest::option::of("[A-Z_]{0,20}"),
            v8 in any::<bool>(),
        ) {
            let body = ErrorBody { code: ErrorCode::parse(&code), message, error_type };
            let version = if v8 { SchemaVersion::V8 } else { SchemaVersion::V7 };
            let xml = write_error_body(&body, version).unwrap();
            prop_assert_eq!(parse_error_body(xml.as_bytes()).unwrap(), body);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_error_body(&bytes);
        }
    }
}
