//! The organisation inbox through the component's `digipost-inbox` interface: reading and
//! writing its XML documents, and building its requests. The component decides every byte;
//! these wrappers turn the WIT results into typed Rust errors with readable messages.

use crate::bindings::digipost_inbox_wit as wit;
use crate::runtime::{GuestError, HostState, Instance};
use dpost_guest::digipost::error_body::{ErrorCode as LibErrorCode, ErrorType as LibErrorType};
use dpost_guest::digipost::inbox::AuthenticationLevel as LibAuthenticationLevel;
use dpost_guest::digipost::requests::{RequestError, UriError};
use wasmtime::Store;

pub use wit::{
    AuthenticationLevel, DocumentAction, Entrypoint, ErrorBody, ErrorCode, ErrorType, HttpRequest,
    Inbox, InboxDocument, Link, SchemaVersion, XmlError,
};

/// Why an inbox call failed.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// A document could not be read; the message names the element, line and column.
    #[error("{what}: {}", .error.message)]
    Xml {
        /// Which document (e.g. `the inbox page`).
        what: &'static str,
        /// Where and what, from the component (boxed: it is large, and rare).
        error: Box<XmlError>,
    },
    /// A document could not be written.
    #[error("cannot write {what}: {reason}")]
    Write {
        /// Which document.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A request could not be built from the ids given.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A document's URI cannot be followed with a signed request.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// The media type of `version`'s documents.
pub fn media_type(instance: &mut Instance, version: SchemaVersion) -> Result<String, InboxError> {
    Ok(call(instance, |api, s| api.call_media_type(s, version))?)
}

/// Read an `<inbox>` page.
pub fn parse_inbox(instance: &mut Instance, xml: &[u8]) -> Result<Inbox, InboxError> {
    read(instance, "the inbox page", |api, s| {
        api.call_parse_inbox(s, xml)
    })
}

/// Write an `<inbox>` page.
pub fn write_inbox(
    instance: &mut Instance,
    inbox: &Inbox,
    version: SchemaVersion,
) -> Result<String, InboxError> {
    write(instance, "the inbox page", |api, s| {
        api.call_write_inbox(s, inbox, version)
    })
}

/// Read an `<error>` body.
pub fn parse_error_body(instance: &mut Instance, xml: &[u8]) -> Result<ErrorBody, InboxError> {
    read(instance, "the error body", |api, s| {
        api.call_parse_error_body(s, xml)
    })
}

/// Write an `<error>` body.
pub fn write_error_body(
    instance: &mut Instance,
    body: &ErrorBody,
    version: SchemaVersion,
) -> Result<String, InboxError> {
    write(instance, "the error body", |api, s| {
        api.call_write_error_body(s, body, version)
    })
}

/// Read the `<entrypoint>` that `GET /` answers.
pub fn parse_entrypoint(instance: &mut Instance, xml: &[u8]) -> Result<Entrypoint, InboxError> {
    read(instance, "the entrypoint", |api, s| {
        api.call_parse_entrypoint(s, xml)
    })
}

/// Write an `<entrypoint>`.
pub fn write_entrypoint(
    instance: &mut Instance,
    e: &Entrypoint,
    version: SchemaVersion,
) -> Result<String, InboxError> {
    write(instance, "the entrypoint", |api, s| {
        api.call_write_entrypoint(s, e, version)
    })
}

/// `GET /<sender-id>/inbox?offset=..&limit=..`.
pub fn list_request(
    instance: &mut Instance,
    sender_id: &str,
    offset: Option<u32>,
    limit: Option<u32>,
) -> Result<HttpRequest, InboxError> {
    request(instance, |api, s| {
        api.call_list_request(s, sender_id, offset, limit)
    })
}

/// `GET /<sender-id>/inbox/<document-id>/content`.
pub fn content_request(
    instance: &mut Instance,
    sender_id: &str,
    document_id: &str,
) -> Result<HttpRequest, InboxError> {
    request(instance, |api, s| {
        api.call_content_request(s, sender_id, document_id)
    })
}

/// `DELETE /<sender-id>/inbox/<document-id>`.
pub fn delete_request(
    instance: &mut Instance,
    sender_id: &str,
    document_id: &str,
) -> Result<HttpRequest, InboxError> {
    request(instance, |api, s| {
        api.call_delete_request(s, sender_id, document_id)
    })
}

/// The request for `action` on a listed document: its `content-uri`/`delete-uri`, else its
/// link, else the documented path (the component decides; see `document-request` in
/// wit/digipost-inbox.wit).
pub fn document_request(
    instance: &mut Instance,
    api_base: &str,
    sender_id: &str,
    document: &InboxDocument,
    action: DocumentAction,
) -> Result<HttpRequest, InboxError> {
    call(instance, |api, s| {
        api.call_document_request(s, api_base, sender_id, document, action)
    })?
    .map_err(|e| match e {
        wit::DocumentRequestError::Request(r) => request_error(r).into(),
        wit::DocumentRequestError::Uri(u) => uri_error(u).into(),
    })
}

/// The request target for a document's `content-uri` or `delete-uri`, refused when it points
/// outside `api_base`.
pub fn resolve_document_uri(
    instance: &mut Instance,
    api_base: &str,
    uri: &str,
) -> Result<String, InboxError> {
    call(instance, |api, s| {
        api.call_resolve_document_uri(s, api_base, uri)
    })?
    .map_err(|e| uri_error(e).into())
}

fn uri_error(e: wit::UriError) -> UriError {
    match e {
        wit::UriError::BadBase(b) => UriError::BadBase(b),
        wit::UriError::BadUri(u) => UriError::BadUri(u),
        wit::UriError::ForeignOrigin(f) => UriError::ForeignOrigin {
            uri: f.uri,
            base: f.base,
        },
    }
}

/// An error code as Digipost writes it (`DOCUMENT_NOT_FOUND`): the component library's
/// spelling ([`LibErrorCode::as_str`]).
pub fn error_code_name(code: &ErrorCode) -> String {
    let known = match code {
        ErrorCode::InvalidSignature => LibErrorCode::InvalidSignature,
        ErrorCode::MissingSignature => LibErrorCode::MissingSignature,
        ErrorCode::DateHeaderOutsideAcceptedInterval => {
            LibErrorCode::DateHeaderOutsideAcceptedInterval
        }
        ErrorCode::InvalidSha256 => LibErrorCode::InvalidSha256,
        ErrorCode::UnknownUserId => LibErrorCode::UnknownUserId,
        ErrorCode::BrokerNotAuthorized => LibErrorCode::BrokerNotAuthorized,
        ErrorCode::DocumentNotFound => LibErrorCode::DocumentNotFound,
        ErrorCode::GeneralError => LibErrorCode::GeneralError,
        ErrorCode::MissingDateHeader => LibErrorCode::MissingDateHeader,
        ErrorCode::InvalidDateHeader => LibErrorCode::InvalidDateHeader,
        ErrorCode::InvalidUserIdHeader => LibErrorCode::InvalidUserIdHeader,
        ErrorCode::MissingSha256 => LibErrorCode::MissingSha256,
        ErrorCode::InvalidQueryParameter => LibErrorCode::InvalidQueryParameter,
        ErrorCode::Other(s) => return s.clone(),
    };
    known.as_str().to_owned()
}

/// An error type as Digipost writes it (`SERVER`): the component library's spelling.
pub fn error_type_name(t: &ErrorType) -> String {
    let known = match t {
        ErrorType::Server => LibErrorType::Server,
        ErrorType::ClientData => LibErrorType::ClientData,
        ErrorType::ClientTechnical => LibErrorType::ClientTechnical,
        ErrorType::Configuration => LibErrorType::Configuration,
        ErrorType::None => LibErrorType::None,
        ErrorType::Other(s) => return s.clone(),
    };
    known.as_str().to_owned()
}

/// An authentication level as Digipost writes it (`TWO_FACTOR`): the component library's
/// spelling ([`LibAuthenticationLevel::as_str`]).
pub fn authentication_level_name(level: &AuthenticationLevel) -> String {
    let known = match level {
        AuthenticationLevel::Password => LibAuthenticationLevel::Password,
        AuthenticationLevel::TwoFactor => LibAuthenticationLevel::TwoFactor,
        AuthenticationLevel::Idporten3 => LibAuthenticationLevel::Idporten3,
        AuthenticationLevel::Idporten4 => LibAuthenticationLevel::Idporten4,
        AuthenticationLevel::Other(s) => return s.clone(),
    };
    known.as_str().to_owned()
}

/// One call into the component's `digipost-inbox` interface.
fn call<T>(
    instance: &mut Instance,
    f: impl FnOnce(&wit::Guest, &mut Store<HostState>) -> wasmtime::Result<T>,
) -> Result<T, GuestError> {
    instance.call(|b, s| f(b.dpost_protocol_digipost_inbox(), s))
}

/// A call that reads `what`.
fn read<T>(
    instance: &mut Instance,
    what: &'static str,
    f: impl FnOnce(&wit::Guest, &mut Store<HostState>) -> wasmtime::Result<Result<T, XmlError>>,
) -> Result<T, InboxError> {
    call(instance, f)?.map_err(|error| InboxError::Xml {
        what,
        error: Box::new(error),
    })
}

/// A call that writes `what`.
fn write(
    instance: &mut Instance,
    what: &'static str,
    f: impl FnOnce(
        &wit::Guest,
        &mut Store<HostState>,
    ) -> wasmtime::Result<Result<String, wit::WriteError>>,
) -> Result<String, InboxError> {
    call(instance, f)?.map_err(|e| InboxError::Write {
        what,
        reason: write_error(e),
    })
}

/// A call that builds a request.
fn request(
    instance: &mut Instance,
    f: impl FnOnce(
        &wit::Guest,
        &mut Store<HostState>,
    ) -> wasmtime::Result<Result<HttpRequest, wit::RequestError>>,
) -> Result<HttpRequest, InboxError> {
    call(instance, f)?.map_err(|e| request_error(e).into())
}

fn request_error(e: wit::RequestError) -> RequestError {
    match e {
        wit::RequestError::BadSenderId(s) => RequestError::BadSenderId(s),
        wit::RequestError::BadDocumentId(s) => RequestError::BadDocumentId(s),
        wit::RequestError::LimitOutOfRange(n) => RequestError::LimitOutOfRange(n),
    }
}

fn write_error(e: wit::WriteError) -> String {
    match e {
        wit::WriteError::UnrepresentableCharacter(u) => {
            format!(
                "{} holds U+{:04X}, which XML cannot carry",
                u.field, u.code_point
            )
        }
        wit::WriteError::InvalidDateTime(d) => {
            format!("{} is not an xs:dateTime: {}", d.field, d.reason)
        }
        wit::WriteError::TooDeep(n) => format!("attachments nest deeper than {n}"),
        wit::WriteError::BadAttachmentOwner(b) => {
            format!(
                "document {} is attached to {}, which is not before it",
                b.index, b.attached_to
            )
        }
    }
}

/// A document's inbox entry as JSON, for `inbox list --json` and the archive's metadata.
pub fn document_json(d: &InboxDocument) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "subject": d.subject,
        "sender": d.sender,
        "delivery_time": d.delivery_time,
        "first_accessed": d.first_accessed,
        "authentication_level": authentication_level_name(&d.authentication_level),
        "content_type": d.content_type,
        "reference_from_sender": d.reference_from_sender,
        "content_uri": d.content_uri,
        "delete_uri": d.delete_uri,
        "links": d.links.iter().map(|l| serde_json::json!({
            "rel": l.rel,
            "uri": l.uri,
            "media_type": l.media_type,
        })).collect::<Vec<_>>(),
    })
}
