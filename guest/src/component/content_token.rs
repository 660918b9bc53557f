//! `dpost:protocol/content-token`: conversions around [`crate::digipost::content_token`].

use super::Component;
use super::exports::dpost::protocol::content_token as wit;
use crate::digipost::content_token::{
    self as token, ContentLink, LinkError, TokenError, TokenRecord, Verdict,
};

fn token_error(e: TokenError) -> wit::TokenError {
    match e {
        TokenError::EmptySecret => wit::TokenError::EmptySecret,
        TokenError::BadUuid(s) => wit::TokenError::BadUuid(s),
    }
}

fn verdict(v: Verdict) -> wit::Verdict {
    match v {
        Verdict::Ok => wit::Verdict::Ok,
        Verdict::Expired => wit::Verdict::Expired,
        Verdict::WrongDocument => wit::Verdict::WrongDocument,
        Verdict::Mismatch => wit::Verdict::Mismatch,
        Verdict::Malformed => wit::Verdict::Malformed,
    }
}

fn link_error(e: LinkError) -> wit::LinkError {
    match e {
        LinkError::NotADocumentLink(s) => wit::LinkError::NotADocumentLink(s),
        LinkError::TokenParameter => wit::LinkError::TokenParameter,
        LinkError::DownloadParameter(s) => wit::LinkError::DownloadParameter(s),
        LinkError::BadBase(s) => wit::LinkError::BadBase(s),
        LinkError::NegativeDocumentId(id) => wit::LinkError::NegativeDocumentId(id),
        LinkError::MalformedToken => wit::LinkError::MalformedToken,
    }
}

impl wit::Guest for Component {
    fn token_lifetime_seconds() -> u32 {
        token::TOKEN_LIFETIME_SECONDS
    }

    fn make_token(
        document_id: i64,
        secret: String,
        uuid: String,
    ) -> Result<String, wit::TokenError> {
        token::make_token(document_id, &secret, &uuid).map_err(token_error)
    }

    fn judge(
        document_id: i64,
        presented: String,
        stored: wit::TokenRecord,
        now_unix_seconds: i64,
    ) -> wit::Verdict {
        let record = TokenRecord {
            document_id: stored.document_id,
            token: stored.token,
            created_at: stored.created_at,
        };
        verdict(token::judge(
            document_id,
            &presented,
            &record,
            now_unix_seconds,
        ))
    }

    fn parse_link(uri: String) -> Result<wit::ContentLink, wit::LinkError> {
        token::parse_link(&uri)
            .map(|l| wit::ContentLink {
                document_id: l.document_id,
                token: l.token,
                download: l.download,
            })
            .map_err(link_error)
    }

    fn build_link(base: String, link: wit::ContentLink) -> Result<String, wit::LinkError> {
        let l = ContentLink {
            document_id: link.document_id,
            token: link.token,
            download: link.download,
        };
        token::build_link(&base, &l).map_err(link_error)
    }
}
