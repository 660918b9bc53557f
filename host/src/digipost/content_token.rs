//! One-time content links through the component's `content-token` interface: the simulator
//! makes tokens from a host secret and a host-drawn UUID, and has the component judge each
//! presented token against its stored record with the simulator's clock.

use crate::bindings::content_token_wit as wit;
use crate::runtime::{GuestError, Instance};
use dpost_guest::digipost::content_token::{LinkError, TokenError};

pub use wit::{ContentLink, TokenRecord, Verdict};

/// Why a token or link call failed.
#[derive(Debug, thiserror::Error)]
pub enum ContentTokenError {
    /// A token could not be made.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A link could not be read or built.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// Seconds a token opens its document.
pub fn lifetime_seconds(instance: &mut Instance) -> Result<u32, ContentTokenError> {
    Ok(instance.call(|b, s| {
        b.dpost_protocol_content_token()
            .call_token_lifetime_seconds(s)
    })?)
}

/// The token for `document_id` from `secret` and the random `uuid`.
pub fn make_token(
    instance: &mut Instance,
    document_id: i64,
    secret: &str,
    uuid: &str,
) -> Result<String, ContentTokenError> {
    instance
        .call(|b, s| {
            b.dpost_protocol_content_token()
                .call_make_token(s, document_id, secret, uuid)
        })?
        .map_err(|e| {
            match e {
                wit::TokenError::EmptySecret => TokenError::EmptySecret,
                wit::TokenError::BadUuid(u) => TokenError::BadUuid(u),
            }
            .into()
        })
}

/// Judge `token`, presented for `document_id`, against `stored` at `now`.
pub fn judge(
    instance: &mut Instance,
    document_id: i64,
    token: &str,
    stored: &TokenRecord,
    now: i64,
) -> Result<Verdict, ContentTokenError> {
    Ok(instance.call(|b, s| {
        b.dpost_protocol_content_token()
            .call_judge(s, document_id, token, stored, now)
    })?)
}

/// Read a one-time link (URL or request target).
pub fn parse_link(instance: &mut Instance, uri: &str) -> Result<ContentLink, ContentTokenError> {
    instance
        .call(|b, s| b.dpost_protocol_content_token().call_parse_link(s, uri))?
        .map_err(|e| link_error(e).into())
}

/// Build the one-time link for `link` on `base`.
pub fn build_link(
    instance: &mut Instance,
    base: &str,
    link: &ContentLink,
) -> Result<String, ContentTokenError> {
    instance
        .call(|b, s| {
            b.dpost_protocol_content_token()
                .call_build_link(s, base, link)
        })?
        .map_err(|e| link_error(e).into())
}

fn link_error(e: wit::LinkError) -> LinkError {
    match e {
        wit::LinkError::NotADocumentLink(s) => LinkError::NotADocumentLink(s),
        wit::LinkError::TokenParameter => LinkError::TokenParameter,
        wit::LinkError::DownloadParameter(s) => LinkError::DownloadParameter(s),
        wit::LinkError::BadBase(s) => LinkError::BadBase(s),
        wit::LinkError::NegativeDocumentId(id) => LinkError::NegativeDocumentId(id),
        wit::LinkError::MalformedToken => LinkError::MalformedToken,
    }
}
