//! Digipost's error document, the body of every 4xx and 5xx answer:
//! `<error><error-code/><error-message/><error-type/></error>`.
//!
//! The code is what a program acts on (a bad signature is fixed differently from an unknown
//! document); the message is for a person, and for a 403 it carries the server's canonical
//! string (see [`super::signature_echo`]).
//!
//! Codes and types are the ones the official Java client knows (digipost-api-client-java,
//! `errorhandling/ErrorCode.java` and `ErrorType.java`, read at 03b5e0e; the list is in
//! docs/digipost-wire.md). The service is not bound to that list: a code dpost does not know is
//! kept and shown verbatim. The real service is known to answer `GENERAL_ERROR` where a client
//! might expect something specific: a bad signature is 403 `GENERAL_ERROR` with no
//! `error-type` (digipost-docs f5b24ff, `security.rst`), and a document that is gone is 404
//! `GENERAL_ERROR`/`SERVER` (digipost-api-client-dotnet 4425582, fixture
//! `InboxDocumentNotExisting.xml`). So callers key on the status and the `===START===` echo,
//! never on the code alone.

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
    /// The catch-all: Digipost's answer to a bad signature and to a document that is gone.
    GeneralError,
    /// The request has no `Date` header.
    MissingDateHeader,
    /// The request's `Date` is not an RFC 1123 date.
    InvalidDateHeader,
    /// `X-Digipost-UserId` is missing or not a number.
    InvalidUserIdHeader,
    /// A request with a body has no `X-Content-SHA256`.
    MissingSha256,
    /// A query parameter (e.g. `offset` or `limit`) has a value the API does not accept.
    InvalidQueryParameter,
    /// A code this version does not know, as the server wrote it. Holds only values that
    /// [`ErrorCode::parse`] does not recognise.
    Other(String),
}

impl ErrorCode {
    const KNOWN: [(&'static str, ErrorCode); 13] = [
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
        ("GENERAL_ERROR", ErrorCode::GeneralError),
        ("MISSING_DATE_HEADER", ErrorCode::MissingDateHeader),
        ("INVALID_DATE_HEADER", ErrorCode::InvalidDateHeader),
        ("INVALID_USER_ID_HEADER", ErrorCode::InvalidUserIdHeader),
        ("MISSING_SHA256", ErrorCode::MissingSha256),
        ("INVALID_QUERY_PARAMETER", ErrorCode::InvalidQueryParameter),
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

    /// Whether the official Java client's `ErrorCode` enum names this code (so a person can be
    /// told that a code is new to both clients, not only to dpost).
    pub fn is_documented(&self) -> bool {
        JAVA_CLIENT_CODES.contains(&self.as_str())
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

/// Every code of the Java client's `ErrorCode` enum (digipost-api-client-java 03b5e0e,
/// `errorhandling/ErrorCode.java`), including the client-side ones.
pub const JAVA_CLIENT_CODES: &[&str] = &[
    "CLIENT_ERROR",
    "FAILED_TO_OBTAIN_ACCESS_TOKEN",
    "GENERAL_ERROR",
    "API_UNAVAILABLE",
    "SERVER_ERROR",
    "SERVER_SIGNATURE_ERROR",
    "NOT_APPROVED_FOR_REST_API_USAGE",
    "NOT_APPROVED_FOR_PRINT",
    "NOT_APPROVED_FOR_IDPORTEN",
    "NOT_APPROVED_FOR_DIRECT_PRINT",
    "NOT_APPROVED_FOR_PREENCRYPT",
    "NOT_APPROVED_FOR_TECHNICAL_ATTACHMENTS",
    "MISSING_CERTIFICATE",
    "REVOKED_CERTIFICATE",
    "BROKER_NOT_AUTHORIZED",
    "NOTIFICATION_ADDRESSES_NOT_ALLOWED",
    "ORGANISATION_LETTERS_PER_MONTH_EXCEEDED",
    "DELIVERY_DATE_HISTORICAL",
    "ACCOUNT_DEACTIVATED",
    "CANNOT_PREENCRYPT",
    "FAILED_PREENCRYPTION",
    "FAILED_TO_PARSE_ENCRYPTION_KEY",
    "PROBLEM_WITH_REQUEST",
    "INVALID_TRANSACTION",
    "DIGIPOST_MESSAGE_ALREADY_DELIVERED",
    "PRINT_MESSAGE_ALREADY_DELIVERED",
    "CONNECTION_ERROR",
    "INVALID_DATE",
    "INVALID_DATE_RANGE",
    "INVALID_QUERY_PARAMETER",
    "SCHEMA_VALIDATION_ERROR",
    "ILLEGAL_ACCESS",
    "INVALID_SIGNATURE",
    "MISSING_SIGNATURE",
    "CONTENT_NOT_ENCRYPTED_WITH_CORRECT_KEY",
    "ENCRYPTION_KEY_NOT_FOUND",
    "CONTENT_NOT_ENCRYPTED",
    "MESSAGE_ALREADY_SENT",
    "CONTENT_ALREADY_UPLOADED",
    "MESSAGE_NOT_FOUND",
    "DOCUMENT_NOT_FOUND",
    "INVALID_USER_ID_HEADER",
    "UNKNOWN_USER_ID",
    "MISSING_DATE_HEADER",
    "INVALID_DATE_HEADER",
    "DATE_HEADER_OUTSIDE_ACCEPTED_INTERVAL",
    "MISSING_SHA256",
    "INVALID_SHA256",
    "MISSING_CONTENT_HASH",
    "INVALID_MD5",
    "MISSING_BODYPART_CONTENT_DISPOSITION",
    "MISSING_BODYPART_FILENAME",
    "DOCUMENTS_AND_FILES_MISMATCH",
    "REQUEST_TOO_LARGE",
    "CONTENT_OF_PRINT_MESSAGE_MUST_BE_PDF",
    "DUPLICATE_MESSAGE",
    "DUPLICATE_DOCUMENT_ID",
    "DUPLICATE_DOCUMENT_ID_FOR_BATCH",
    "FILE_TOO_LARGE",
    "ILLEGAL_HTML_CONTENT",
    "BAD_CONTENT",
    "ILLEGAL_CONTENT_TYPE",
    "VALIDATION_FAILED",
    "UNKNOWN_SENDER",
    "UNKNOWN_RECIPIENT",
    "MISSING_RECIPIENT",
    "MISSING_CONTENT",
    "MISSING_SUBJECT",
    "INVALID_EMAIL_ADDRESS",
    "INVALID_EMAIL_NOTIFICATION_TIME",
    "INVALID_SMS_NOTIFICATION_TIME",
    "INVALID_PHONE_NUMBER",
    "INVALID_RECIPIENT_PRINT_ADDRESS",
    "INVALID_RETURN_ADDRESS",
    "INVALID_PDF_CONTENT",
    "INVALID_HTML_CONTENT",
    "HTML_CONTENT_SANITIZED",
    "INVALID_MONETARY_AMOUNT",
    "AUTHENTICATION_LEVEL_TOO_LOW",
    "PEPPOL_ERROR",
    "PEPPOL_FILE_MUST_BE_XML",
    "UNKNOWN_PEPPOL_RECIPIENT",
    "UNKNOWN_BATCH",
    "UNKNOWN_USER",
];

/// Digipost's classification of an error (`<error-type>`; the Java client's `ErrorType`
/// enum maps these five from the schema's `error-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorType {
    /// `SERVER`: Digipost failed; another attempt may work.
    Server,
    /// `CLIENT_DATA`: the request's content is wrong.
    ClientData,
    /// `CLIENT_TECHNICAL`: the request is technically wrong (headers, signature).
    ClientTechnical,
    /// `CONFIGURATION`: the broker or sender is not set up for this.
    Configuration,
    /// `NONE`.
    None,
    /// A type this version does not know, as the server wrote it; never one of the above.
    Other(String),
}

impl ErrorType {
    const KNOWN: [(&'static str, ErrorType); 5] = [
        ("SERVER", ErrorType::Server),
        ("CLIENT_DATA", ErrorType::ClientData),
        ("CLIENT_TECHNICAL", ErrorType::ClientTechnical),
        ("CONFIGURATION", ErrorType::Configuration),
        ("NONE", ErrorType::None),
    ];

    /// The type named by `value`, unknown ones kept.
    pub fn parse(value: &str) -> ErrorType {
        Self::KNOWN
            .iter()
            .find(|(name, _)| *name == value)
            .map_or_else(|| ErrorType::Other(value.to_owned()), |(_, t)| t.clone())
    }

    /// The type as Digipost spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorType::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(_, t)| t == known)
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
    /// Digipost's classification, when given (a bad-signature 403 has none).
    pub error_type: Option<ErrorType>,
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
        error_type: error_type
            .map(|t| t.text.trim())
            .filter(|t| !t.is_empty())
            .map(ErrorType::parse),
    })
}

/// Write an `<error>` document in the namespace of `version`.
pub fn write_error_body(body: &ErrorBody, version: SchemaVersion) -> Result<String, WriteError> {
    let mut w = xml::Writer::new("error", version);
    w.text_element("error-code", body.code.as_str())?;
    w.optional_element("error-message", body.message.as_deref())?;
    w.optional_element(
        "error-type",
        body.error_type.as_ref().map(ErrorType::as_str),
    )?;
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
        assert_eq!(body.error_type, Some(ErrorType::ClientTechnical));
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
    fn the_published_samples() {
        // digipost-api-client-dotnet 4425582, InboxDocumentNotExisting.xml (served with 404).
        let gone = parse_error_body(b"<error xmlns=\"http://api.digipost.no/schema/v8\"><error-code>GENERAL_ERROR</error-code><error-message></error-message><error-type>SERVER</error-type></error>").unwrap();
        assert_eq!(gone.code, ErrorCode::GeneralError);
        assert_eq!(gone.error_type, Some(ErrorType::Server));
        // digipost-docs f5b24ff security.rst: a bad signature has no error-type.
        let bad = parse_error_body(b"<error><error-code>GENERAL_ERROR</error-code><error-message>===START===\nGET\n===SLUTT===</error-message></error>").unwrap();
        assert_eq!(bad.error_type, None);
        for t in [
            "SERVER",
            "CLIENT_DATA",
            "CLIENT_TECHNICAL",
            "CONFIGURATION",
            "NONE",
            "NEW",
        ] {
            assert_eq!(ErrorType::parse(t).as_str(), t);
        }
        assert!(ErrorCode::parse("INVALID_DATE_HEADER").is_documented());
        assert!(!ErrorCode::parse("SOMETHING_NEW").is_documented());
        for (name, _) in ErrorCode::KNOWN {
            assert!(JAVA_CLIENT_CODES.contains(&name), "{name}");
        }
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
            error_type in proptest::option::of("[A-Z_]{1,20}"),
            v8 in any::<bool>(),
        ) {
            let error_type = error_type.as_deref().map(ErrorType::parse);
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
