//! `dpost:protocol/digipost-inbox`: conversions around [`crate::digipost`]'s inbox modules.

use super::Component;
use super::exports::dpost::protocol::digipost_inbox as wit;
use crate::digipost::entrypoint::{self, Entrypoint};
use crate::digipost::error_body::{self, ErrorBody, ErrorCode, ErrorType};
use crate::digipost::inbox::{
    self, AuthenticationLevel, FlatDocument, FlatError, Inbox, InboxDocument, Link,
};
use crate::digipost::requests::{
    self, DocumentAction, DocumentRequestError, InboxRequest, RequestError, UriError,
};
use crate::digipost::xml::{SchemaVersion, WriteError, XmlError, XmlProblem};

fn version(v: wit::SchemaVersion) -> SchemaVersion {
    match v {
        wit::SchemaVersion::V7 => SchemaVersion::V7,
        wit::SchemaVersion::V8 => SchemaVersion::V8,
    }
}

fn level_out(l: AuthenticationLevel) -> wit::AuthenticationLevel {
    match l {
        AuthenticationLevel::Password => wit::AuthenticationLevel::Password,
        AuthenticationLevel::TwoFactor => wit::AuthenticationLevel::TwoFactor,
        AuthenticationLevel::Idporten3 => wit::AuthenticationLevel::Idporten3,
        AuthenticationLevel::Idporten4 => wit::AuthenticationLevel::Idporten4,
        AuthenticationLevel::Other(s) => wit::AuthenticationLevel::Other(s),
    }
}

fn level_in(l: wit::AuthenticationLevel) -> AuthenticationLevel {
    match l {
        wit::AuthenticationLevel::Password => AuthenticationLevel::Password,
        wit::AuthenticationLevel::TwoFactor => AuthenticationLevel::TwoFactor,
        wit::AuthenticationLevel::Idporten3 => AuthenticationLevel::Idporten3,
        wit::AuthenticationLevel::Idporten4 => AuthenticationLevel::Idporten4,
        // Through the library's parser, so that `other("PASSWORD")` means `password` as it
        // would if read from XML.
        wit::AuthenticationLevel::Other(s) => AuthenticationLevel::parse(&s),
    }
}

fn link_out(l: Link) -> wit::Link {
    wit::Link {
        rel: l.rel,
        uri: l.uri,
        media_type: l.media_type,
    }
}

fn link_in(l: wit::Link) -> Link {
    Link {
        rel: l.rel,
        uri: l.uri,
        media_type: l.media_type,
    }
}

fn document_out(f: FlatDocument) -> wit::InboxDocument {
    let d = f.document;
    wit::InboxDocument {
        attached_to: f.attached_to,
        id: d.id,
        reference_from_sender: d.reference_from_sender,
        subject: d.subject,
        sender: d.sender,
        delivery_time: d.delivery_time,
        first_accessed: d.first_accessed,
        authentication_level: level_out(d.authentication_level),
        content_type: d.content_type,
        content_uri: d.content_uri,
        delete_uri: d.delete_uri,
        links: d.links.into_iter().map(link_out).collect(),
    }
}

fn document_in(d: wit::InboxDocument) -> FlatDocument {
    FlatDocument {
        attached_to: d.attached_to,
        document: InboxDocument {
            id: d.id,
            reference_from_sender: d.reference_from_sender,
            subject: d.subject,
            sender: d.sender,
            delivery_time: d.delivery_time,
            first_accessed: d.first_accessed,
            authentication_level: level_in(d.authentication_level),
            content_type: d.content_type,
            content_uri: d.content_uri,
            delete_uri: d.delete_uri,
            attachments: Vec::new(),
            links: d.links.into_iter().map(link_in).collect(),
        },
    }
}

fn code_out(c: ErrorCode) -> wit::ErrorCode {
    match c {
        ErrorCode::InvalidSignature => wit::ErrorCode::InvalidSignature,
        ErrorCode::MissingSignature => wit::ErrorCode::MissingSignature,
        ErrorCode::DateHeaderOutsideAcceptedInterval => {
            wit::ErrorCode::DateHeaderOutsideAcceptedInterval
        }
        ErrorCode::InvalidSha256 => wit::ErrorCode::InvalidSha256,
        ErrorCode::UnknownUserId => wit::ErrorCode::UnknownUserId,
        ErrorCode::BrokerNotAuthorized => wit::ErrorCode::BrokerNotAuthorized,
        ErrorCode::DocumentNotFound => wit::ErrorCode::DocumentNotFound,
        ErrorCode::GeneralError => wit::ErrorCode::GeneralError,
        ErrorCode::MissingDateHeader => wit::ErrorCode::MissingDateHeader,
        ErrorCode::InvalidDateHeader => wit::ErrorCode::InvalidDateHeader,
        ErrorCode::InvalidUserIdHeader => wit::ErrorCode::InvalidUserIdHeader,
        ErrorCode::MissingSha256 => wit::ErrorCode::MissingSha256,
        ErrorCode::InvalidQueryParameter => wit::ErrorCode::InvalidQueryParameter,
        ErrorCode::Other(s) => wit::ErrorCode::Other(s),
    }
}

fn code_in(c: wit::ErrorCode) -> ErrorCode {
    match c {
        wit::ErrorCode::InvalidSignature => ErrorCode::InvalidSignature,
        wit::ErrorCode::MissingSignature => ErrorCode::MissingSignature,
        wit::ErrorCode::DateHeaderOutsideAcceptedInterval => {
            ErrorCode::DateHeaderOutsideAcceptedInterval
        }
        wit::ErrorCode::InvalidSha256 => ErrorCode::InvalidSha256,
        wit::ErrorCode::UnknownUserId => ErrorCode::UnknownUserId,
        wit::ErrorCode::BrokerNotAuthorized => ErrorCode::BrokerNotAuthorized,
        wit::ErrorCode::DocumentNotFound => ErrorCode::DocumentNotFound,
        wit::ErrorCode::GeneralError => ErrorCode::GeneralError,
        wit::ErrorCode::MissingDateHeader => ErrorCode::MissingDateHeader,
        wit::ErrorCode::InvalidDateHeader => ErrorCode::InvalidDateHeader,
        wit::ErrorCode::InvalidUserIdHeader => ErrorCode::InvalidUserIdHeader,
        wit::ErrorCode::MissingSha256 => ErrorCode::MissingSha256,
        wit::ErrorCode::InvalidQueryParameter => ErrorCode::InvalidQueryParameter,
        wit::ErrorCode::Other(s) => ErrorCode::parse(&s),
    }
}

fn type_out(t: ErrorType) -> wit::ErrorType {
    match t {
        ErrorType::Server => wit::ErrorType::Server,
        ErrorType::ClientData => wit::ErrorType::ClientData,
        ErrorType::ClientTechnical => wit::ErrorType::ClientTechnical,
        ErrorType::Configuration => wit::ErrorType::Configuration,
        ErrorType::None => wit::ErrorType::None,
        ErrorType::Other(s) => wit::ErrorType::Other(s),
    }
}

fn type_in(t: wit::ErrorType) -> ErrorType {
    match t {
        wit::ErrorType::Server => ErrorType::Server,
        wit::ErrorType::ClientData => ErrorType::ClientData,
        wit::ErrorType::ClientTechnical => ErrorType::ClientTechnical,
        wit::ErrorType::Configuration => ErrorType::Configuration,
        wit::ErrorType::None => ErrorType::None,
        // Through the parser, so that `other("SERVER")` means `server`.
        wit::ErrorType::Other(s) => ErrorType::parse(&s),
    }
}

fn xml_error(e: XmlError) -> wit::XmlError {
    let message = e.to_string();
    let problem = match e.problem {
        XmlProblem::NotUtf8 => wit::XmlProblem::NotUtf8,
        XmlProblem::UnsupportedEncoding(s) => wit::XmlProblem::UnsupportedEncoding(s),
        XmlProblem::Syntax(s) => wit::XmlProblem::Syntax(s),
        XmlProblem::DtdRefused => wit::XmlProblem::DtdRefused,
        XmlProblem::UnknownEntity(s) => wit::XmlProblem::UnknownEntity(s),
        XmlProblem::TooDeep(n) => wit::XmlProblem::TooDeep(n),
        XmlProblem::NoRootElement => wit::XmlProblem::NoRootElement,
        XmlProblem::ContentOutsideRoot => wit::XmlProblem::ContentOutsideRoot,
        XmlProblem::UnexpectedRoot { expected, found } => {
            wit::XmlProblem::UnexpectedRoot(wit::UnexpectedRoot { expected, found })
        }
        XmlProblem::ForeignNamespace(s) => wit::XmlProblem::ForeignNamespace(s),
        XmlProblem::MissingElement(s) => wit::XmlProblem::MissingElement(s),
        XmlProblem::DuplicateElement(s) => wit::XmlProblem::DuplicateElement(s),
        XmlProblem::MissingAttribute(s) => wit::XmlProblem::MissingAttribute(s),
        XmlProblem::InvalidValue { value, reason } => {
            wit::XmlProblem::InvalidValue(wit::InvalidValue { value, reason })
        }
    };
    wit::XmlError {
        path: e.path,
        line: e.line,
        column: e.column,
        offset: e.offset,
        problem,
        message,
    }
}

fn write_error(e: WriteError) -> wit::WriteError {
    match e {
        WriteError::UnrepresentableCharacter { field, code_point } => {
            wit::WriteError::UnrepresentableCharacter(wit::UnrepresentableCharacter {
                field,
                code_point,
            })
        }
        WriteError::InvalidDateTime { field, reason } => {
            wit::WriteError::InvalidDateTime(wit::InvalidDateTime { field, reason })
        }
        WriteError::TooDeep(n) => wit::WriteError::TooDeep(n),
    }
}

fn flat_error(e: FlatError) -> wit::WriteError {
    match e {
        FlatError::BadOwner { index, attached_to } => {
            wit::WriteError::BadAttachmentOwner(wit::BadAttachmentOwner { index, attached_to })
        }
        FlatError::TooDeep(n) => wit::WriteError::TooDeep(n),
    }
}

fn request_out(
    r: Result<InboxRequest, RequestError>,
) -> Result<wit::HttpRequest, wit::RequestError> {
    match r {
        Ok(r) => Ok(wit::HttpRequest {
            method: r.method.to_owned(),
            target: r.target,
            headers: r
                .headers
                .into_iter()
                .map(|h| wit::Header {
                    name: h.name,
                    value: h.value,
                })
                .collect(),
        }),
        Err(e) => Err(request_error(e)),
    }
}

fn request_error(e: RequestError) -> wit::RequestError {
    match e {
        RequestError::BadSenderId(s) => wit::RequestError::BadSenderId(s),
        RequestError::BadDocumentId(s) => wit::RequestError::BadDocumentId(s),
        RequestError::LimitOutOfRange(n) => wit::RequestError::LimitOutOfRange(n),
    }
}

fn uri_error(e: UriError) -> wit::UriError {
    match e {
        UriError::BadBase(s) => wit::UriError::BadBase(s),
        UriError::BadUri(s) => wit::UriError::BadUri(s),
        UriError::ForeignOrigin { uri, base } => {
            wit::UriError::ForeignOrigin(wit::ForeignOrigin { uri, base })
        }
    }
}

impl wit::Guest for Component {
    fn media_type(v: wit::SchemaVersion) -> String {
        version(v).media_type().to_owned()
    }

    fn schema_namespace(v: wit::SchemaVersion) -> String {
        version(v).namespace().to_owned()
    }

    fn parse_inbox(xml: Vec<u8>) -> Result<wit::Inbox, wit::XmlError> {
        let parsed = inbox::parse_inbox(&xml).map_err(xml_error)?;
        Ok(wit::Inbox {
            documents: parsed.to_flat().into_iter().map(document_out).collect(),
        })
    }

    fn write_inbox(i: wit::Inbox, v: wit::SchemaVersion) -> Result<String, wit::WriteError> {
        let tree = Inbox::from_flat(i.documents.into_iter().map(document_in).collect())
            .map_err(flat_error)?;
        inbox::write_inbox(&tree, version(v)).map_err(write_error)
    }

    fn parse_error_body(xml: Vec<u8>) -> Result<wit::ErrorBody, wit::XmlError> {
        let b = error_body::parse_error_body(&xml).map_err(xml_error)?;
        Ok(wit::ErrorBody {
            code: code_out(b.code),
            message: b.message,
            error_type: b.error_type.map(type_out),
        })
    }

    fn write_error_body(
        b: wit::ErrorBody,
        v: wit::SchemaVersion,
    ) -> Result<String, wit::WriteError> {
        let body = ErrorBody {
            code: code_in(b.code),
            message: b.message,
            error_type: b.error_type.map(type_in),
        };
        error_body::write_error_body(&body, version(v)).map_err(write_error)
    }

    fn parse_entrypoint(xml: Vec<u8>) -> Result<wit::Entrypoint, wit::XmlError> {
        let e = entrypoint::parse_entrypoint(&xml).map_err(xml_error)?;
        Ok(wit::Entrypoint {
            certificate: e.certificate,
            links: e.links.into_iter().map(link_out).collect(),
        })
    }

    fn write_entrypoint(
        e: wit::Entrypoint,
        v: wit::SchemaVersion,
    ) -> Result<String, wit::WriteError> {
        let e = Entrypoint {
            certificate: e.certificate,
            links: e.links.into_iter().map(link_in).collect(),
        };
        entrypoint::write_entrypoint(&e, version(v)).map_err(write_error)
    }

    fn list_request(
        sender_id: String,
        offset: Option<u32>,
        limit: Option<u32>,
    ) -> Result<wit::HttpRequest, wit::RequestError> {
        request_out(requests::list_inbox(&sender_id, offset, limit))
    }

    fn content_request(
        sender_id: String,
        document_id: String,
    ) -> Result<wit::HttpRequest, wit::RequestError> {
        request_out(requests::document_content(&sender_id, &document_id))
    }

    fn delete_request(
        sender_id: String,
        document_id: String,
    ) -> Result<wit::HttpRequest, wit::RequestError> {
        request_out(requests::delete_document(&sender_id, &document_id))
    }

    fn document_request(
        api_base: String,
        sender_id: String,
        document: wit::InboxDocument,
        action: wit::DocumentAction,
    ) -> Result<wit::HttpRequest, wit::DocumentRequestError> {
        let action = match action {
            wit::DocumentAction::Content => DocumentAction::Content,
            wit::DocumentAction::Delete => DocumentAction::Delete,
        };
        let document = document_in(document).document;
        match requests::document_request(&api_base, &sender_id, &document, action) {
            Ok(r) => request_out(Ok(r)).map_err(wit::DocumentRequestError::Request),
            Err(DocumentRequestError::Request(e)) => {
                Err(wit::DocumentRequestError::Request(request_error(e)))
            }
            Err(DocumentRequestError::Uri(e)) => Err(wit::DocumentRequestError::Uri(uri_error(e))),
        }
    }

    fn resolve_document_uri(api_base: String, uri: String) -> Result<String, wit::UriError> {
        requests::resolve_document_uri(&api_base, &uri).map_err(uri_error)
    }
}
