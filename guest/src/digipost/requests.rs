//! The inbox's requests: listing a page, fetching a document's content, deleting a
//! document; and turning the URIs an inbox names into request targets.
//!
//! Each builder returns the method, the target (path and query exactly as they go on the
//! wire, which is also what [`super::signing`] signs) and the protocol headers. The caller
//! adds the signature headers and sends it.

use super::message::Header;

/// The page size the server uses when none is asked for.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page the server returns.
pub const MAX_LIMIT: u32 = 1000;
/// The media type dpost asks for: current clients speak v8 (see [`super::xml::SchemaVersion`]).
pub const MEDIA_TYPE: &str = "application/vnd.digipost-v8+xml";

/// A request ready to be signed and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRequest {
    /// `GET` or `DELETE`.
    pub method: &'static str,
    /// Path and query as sent, e.g. `/1000/inbox?offset=0&limit=100`.
    pub target: String,
    /// Headers to send besides the signature headers. None of the inbox requests carries a
    /// body, so this is `Accept` alone.
    pub headers: Vec<Header>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The sender id is not a non-empty string of digits that fits in 64 bits.
    #[error("the sender id {0:?} must be a number (digits only)")]
    BadSenderId(String),
    /// The document id is not a non-empty string of digits that fits in 64 bits.
    #[error("the document id {0:?} must be a number (digits only)")]
    BadDocumentId(String),
    /// The page size is outside 1..=1000.
    #[error("the limit {0} is outside 1..={MAX_LIMIT}")]
    LimitOutOfRange(u32),
}

/// An id as Digipost accepts it in a path: ASCII digits, and a value that fits an `xs:long`.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<i64>().is_ok()
}

fn sender(sender_id: &str) -> Result<&str, RequestError> {
    if is_id(sender_id) {
        Ok(sender_id)
    } else {
        Err(RequestError::BadSenderId(sender_id.to_owned()))
    }
}

fn document(document_id: &str) -> Result<&str, RequestError> {
    if is_id(document_id) {
        Ok(document_id)
    } else {
        Err(RequestError::BadDocumentId(document_id.to_owned()))
    }
}

fn headers() -> Vec<Header> {
    vec![Header::new("Accept", MEDIA_TYPE)]
}

/// `GET /<sender-id>/inbox?offset=<offset>&limit=<limit>`: a page of the inbox, newest first.
/// `offset` (default 0) counts documents to skip; `limit` (default 100) must be 1..=1000.
pub fn list_inbox(
    sender_id: &str,
    offset: Option<u32>,
    limit: Option<u32>,
) -> Result<InboxRequest, RequestError> {
    let sender = sender(sender_id)?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(RequestError::LimitOutOfRange(limit));
    }
    let offset = offset.unwrap_or(0);
    Ok(InboxRequest {
        method: "GET",
        target: format!("/{sender}/inbox?offset={offset}&limit={limit}"),
        headers: headers(),
    })
}

/// `GET /<sender-id>/inbox/<document-id>/content`: answered with a 307 to a one-time link.
pub fn document_content(sender_id: &str, document_id: &str) -> Result<InboxRequest, RequestError> {
    let (sender, document) = (sender(sender_id)?, document(document_id)?);
    Ok(InboxRequest {
        method: "GET",
        target: format!("/{sender}/inbox/{document}/content"),
        headers: headers(),
    })
}

/// `DELETE /<sender-id>/inbox/<document-id>`.
pub fn delete_document(sender_id: &str, document_id: &str) -> Result<InboxRequest, RequestError> {
    let (sender, document) = (sender(sender_id)?, document(document_id)?);
    Ok(InboxRequest {
        method: "DELETE",
        target: format!("/{sender}/inbox/{document}"),
        headers: headers(),
    })
}

/// Why a URI from an inbox was not turned into a request target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The API base is not `http(s)://host[:port]` with at most a path.
    #[error("the API base {0:?} is not an http(s) URL such as https://api.digipost.no")]
    BadBase(String),
    /// The URI is neither an absolute path nor an http(s) URL, or holds spaces or control
    /// characters.
    #[error("the URI {0:?} is neither a path starting with '/' nor an http(s) URL")]
    BadUri(String),
    /// The URI points somewhere other than the API (another scheme, host or port, or one
    /// with user information); the client's signed request must not go there.
    #[error(
        "the URI {uri:?} points outside the API at {base:?}; refusing to send a signed request there"
    )]
    ForeignOrigin {
        /// The URI given.
        uri: String,
        /// The API base it was held to.
        base: String,
    },
}

/// Scheme, lower-cased host and explicit-or-default port of an http(s) URL, and the rest
/// (path, query, fragment). `None` when it is not an http(s) URL or has user information.
fn origin(url: &str) -> Option<(String, String, u16, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at_checked(end)?;
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets; a port follows the `]`.
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().ok()?),
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port, tail))
}

fn is_clean(s: &str) -> bool {
    !s.bytes().any(|b| b.is_ascii_control() || b == b' ')
}

/// The request target (path and query) for a document's `content-uri` or `delete-uri`.
///
/// Digipost writes these as absolute paths (`/1000/inbox/1234/content`) or as full URLs on
/// the API host. A full URL must have the scheme, host and port of `api_base`: a signed
/// request, and the content it unlocks, must never be sent to a host an inbox document
/// names. A path-only URI (`/...`) is always relative to the API. The fragment is dropped.
pub fn resolve_document_uri(api_base: &str, uri: &str) -> Result<String, UriError> {
    let base = origin(api_base).filter(|_| is_clean(api_base));
    let Some((scheme, host, port, _)) = base else {
        return Err(UriError::BadBase(api_base.to_owned()));
    };
    let uri_trimmed = uri.trim();
    if !is_clean(uri_trimmed) {
        return Err(UriError::BadUri(uri.to_owned()));
    }
    let without_fragment = uri_trimmed.split('#').next().unwrap_or_default();
    if let Some(rest) = without_fragment.strip_prefix("//") {
        // A scheme-relative reference names a host: it is held to the base like a full URL.
        let absolute = format!("{scheme}://{rest}");
        return resolve_document_uri(api_base, &absolute).map_err(|e| match e {
            UriError::ForeignOrigin { .. } | UriError::BadUri(_) => UriError::ForeignOrigin {
                uri: uri.to_owned(),
                base: api_base.to_owned(),
            },
            other => other,
        });
    }
    if without_fragment.starts_with('/') {
        return Ok(without_fragment.to_owned());
    }
    if !without_fragment.contains("://") {
        return Err(UriError::BadUri(uri.to_owned()));
    }
    let foreign = || UriError::ForeignOrigin {
        uri: uri.to_owned(),
        base: api_base.to_owned(),
    };
    let (s, h, p, tail) = origin(without_fragment).ok_or_else(foreign)?;
    if (s, h, p) != (scheme, host, port) {
        return Err(foreign());
    }
    Ok(if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    })
}

/// What a request to one listed document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentAction {
    /// Fetch its content (answered with a 307 to a one-time link).
    Content,
    /// Delete it.
    Delete,
}

impl DocumentAction {
    /// The end of the `rel` of the link the .NET client follows for this action
    /// (digipost-api-client-dotnet 4425582, `GET_DOCUMENT_CONTENT` and `SELF_DELETE`
    /// relations; compared without case, as relation URIs end in them).
    fn relation(self) -> &'static str {
        match self {
            DocumentAction::Content => "get_document_content",
            DocumentAction::Delete => "self_delete",
        }
    }
}

/// Why the request to a listed document could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentRequestError {
    /// The ids cannot form the documented path.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The URI the listing gave cannot be followed with a signed request.
    #[error(transparent)]
    Uri(#[from] UriError),
}

/// The request for `action` on a document as the inbox listed it, in this order of
/// preference:
/// 1. its `content-uri` / `delete-uri`: digipost-docs f5b24ff (`api-reference.rst`, "The URI
///    that should be used to delete the document is included in the response when the get
///    inbox endpoint is called") and the Java client, which uses them as given;
/// 2. else its `<link>` whose `rel` ends in `GET_DOCUMENT_CONTENT` / `SELF_DELETE` (the .NET
///    client since 2022, which marks the two URIs deprecated);
/// 3. else the documented path, `/<sender>/inbox/<id>/content` or `/<sender>/inbox/<id>`.
///
/// URIs from the listing are held to `api_base` ([`resolve_document_uri`]): one pointing
/// elsewhere is refused, not skipped for the next choice, so that a listing naming a foreign
/// host is seen rather than papered over.
pub fn document_request(
    api_base: &str,
    sender_id: &str,
    document: &crate::digipost::inbox::InboxDocument,
    action: DocumentAction,
) -> Result<InboxRequest, DocumentRequestError> {
    let (method, listed) = match action {
        DocumentAction::Content => ("GET", document.content_uri.as_deref()),
        DocumentAction::Delete => ("DELETE", document.delete_uri.as_deref()),
    };
    let linked = || {
        document.links.iter().find_map(|l| {
            let rel = l.rel.as_deref()?.to_ascii_lowercase();
            rel.ends_with(action.relation()).then_some(l.uri.as_str())
        })
    };
    let chosen = listed.filter(|u| !u.trim().is_empty()).or_else(linked);
    match chosen {
        Some(uri) => Ok(InboxRequest {
            method,
            target: resolve_document_uri(api_base, uri)?,
            headers: headers(),
        }),
        None => {
            let id = document.id.to_string();
            Ok(match action {
                DocumentAction::Content => document_content(sender_id, &id)?,
                DocumentAction::Delete => delete_document(sender_id, &id)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digipost::inbox::{AuthenticationLevel, InboxDocument, Link};
    use proptest::prelude::*;

    fn listed(content: Option<&str>, delete: Option<&str>, links: Vec<Link>) -> InboxDocument {
        InboxDocument {
            id: 7,
            reference_from_sender: None,
            subject: None,
            sender: "s".into(),
            delivery_time: "2017-05-23T09:30:10+02:00".into(),
            first_accessed: None,
            authentication_level: AuthenticationLevel::Password,
            content_type: None,
            content_uri: content.map(Into::into),
            delete_uri: delete.map(Into::into),
            attachments: Vec::new(),
            links,
        }
    }

    #[test]
    fn document_requests_prefer_the_listing_then_links_then_the_path() {
        let base = "https://api.digipost.no";
        let (c, d) = (DocumentAction::Content, DocumentAction::Delete);
        let abs = listed(
            Some("https://api.digipost.no/1000/inbox/7/content"),
            Some("https://API.digipost.no:443/1000/inbox/7?x=1"),
            Vec::new(),
        );
        assert_eq!(
            document_request(base, "1000", &abs, c).unwrap().target,
            "/1000/inbox/7/content"
        );
        let del = document_request(base, "1000", &abs, d).unwrap();
        assert_eq!(
            (del.method, del.target.as_str()),
            ("DELETE", "/1000/inbox/7?x=1")
        );

        let links = listed(
            None,
            None,
            vec![
                Link {
                    rel: None,
                    uri: "/ignored".into(),
                    media_type: None,
                },
                Link {
                    rel: Some("https://api.digipost.no/relations/GET_DOCUMENT_CONTENT".into()),
                    uri: "/c/7".into(),
                    media_type: None,
                },
                Link {
                    rel: Some("https://api.digipost.no/relations/self_delete".into()),
                    uri: "https://api.digipost.no/d/7".into(),
                    media_type: None,
                },
            ],
        );
        assert_eq!(
            document_request(base, "1000", &links, c).unwrap().target,
            "/c/7"
        );
        assert_eq!(
            document_request(base, "1000", &links, d).unwrap().target,
            "/d/7"
        );

        let bare = listed(None, Some("  "), Vec::new());
        assert_eq!(
            document_request(base, "1000", &bare, c).unwrap().target,
            "/1000/inbox/7/content"
        );
        assert_eq!(
            document_request(base, "1000", &bare, d).unwrap().target,
            "/1000/inbox/7"
        );

        let foreign = listed(
            Some("https://evil.example/1000/inbox/7/content"),
            None,
            Vec::new(),
        );
        assert!(matches!(
            document_request(base, "1000", &foreign, c),
            Err(DocumentRequestError::Uri(UriError::ForeignOrigin { .. }))
        ));
        assert!(matches!(
            document_request(base, "x", &bare, c),
            Err(DocumentRequestError::Request(RequestError::BadSenderId(_)))
        ));
    }

    #[test]
    fn list_defaults_and_bounds() {
        let r = list_inbox("1000", None, None).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/1000/inbox?offset=0&limit=100");
        assert_eq!(
            r.headers,
            vec![Header::new("Accept", "application/vnd.digipost-v8+xml")]
        );
        assert_eq!(
            list_inbox("1000", Some(200), Some(1000)).unwrap().target,
            "/1000/inbox?offset=200&limit=1000"
        );
        assert_eq!(
            list_inbox("1000", None, Some(1)).unwrap().target,
            "/1000/inbox?offset=0&limit=1"
        );
        assert_eq!(
            list_inbox("1000", None, Some(0)),
            Err(RequestError::LimitOutOfRange(0))
        );
        assert_eq!(
            list_inbox("1000", None, Some(1001)),
            Err(RequestError::LimitOutOfRange(1001))
        );
    }

    #[test]
    fn content_and_delete() {
        let c = document_content("1000", "1234").unwrap();
        assert_eq!(
            (c.method, c.target.as_str()),
            ("GET", "/1000/inbox/1234/content")
        );
        let d = delete_document("1000", "1234").unwrap();
        assert_eq!(
            (d.method, d.target.as_str()),
            ("DELETE", "/1000/inbox/1234")
        );
        assert_eq!(d.headers, c.headers);
    }

    #[test]
    fn ids_are_digits_only() {
        for bad in [
            "",
            "12a",
            "-1",
            "+1",
            " 1",
            "1/../2",
            "99999999999999999999",
            "١٢",
        ] {
            assert_eq!(
                list_inbox(bad, None, None),
                Err(RequestError::BadSenderId(bad.into())),
                "{bad}"
            );
            assert_eq!(
                document_content("1", bad),
                Err(RequestError::BadDocumentId(bad.into())),
                "{bad}"
            );
            assert_eq!(
                delete_document("1", bad),
                Err(RequestError::BadDocumentId(bad.into())),
                "{bad}"
            );
        }
        assert!(
            RequestError::BadSenderId("x".into())
                .to_string()
                .contains("sender id")
        );
    }

    #[test]
    fn resolves_relative_and_same_origin_uris() {
        let base = "https://api.digipost.no";
        assert_eq!(
            resolve_document_uri(base, "/1000/inbox/1234/content").unwrap(),
            "/1000/inbox/1234/content"
        );
        assert_eq!(
            resolve_document_uri(base, " /1000/inbox/1234#x ").unwrap(),
            "/1000/inbox/1234"
        );
        assert_eq!(
            resolve_document_uri(
                "https://API.digipost.no/",
                "HTTPS://api.digipost.no:443/1000/inbox/1?a=1"
            )
            .unwrap(),
            "/1000/inbox/1?a=1"
        );
        assert_eq!(
            resolve_document_uri("http://127.0.0.1:8080", "http://127.0.0.1:8080?x").unwrap(),
            "/?x"
        );
        assert_eq!(
            resolve_document_uri("http://[::1]:8080", "http://[::1]:8080/a").unwrap(),
            "/a"
        );
    }

    #[test]
    fn refuses_other_hosts_and_oddities() {
        let base = "https://api.digipost.no";
        let foreign = |uri: &str| UriError::ForeignOrigin {
            uri: uri.into(),
            base: base.into(),
        };
        for uri in [
            "https://evil.example/1000/inbox/1/content",
            "http://api.digipost.no/1000/inbox/1",
            "https://api.digipost.no:8443/1000/inbox/1",
            "https://api.digipost.no@evil.example/x",
            "//evil.example/x",
            "ftp://api.digipost.no/x",
        ] {
            assert_eq!(resolve_document_uri(base, uri), Err(foreign(uri)), "{uri}");
        }
        assert_eq!(
            resolve_document_uri(base, "//api.digipost.no/x").unwrap(),
            "/x"
        );
        for uri in ["1000/inbox", "", "/a b", "/a\nb"] {
            assert_eq!(
                resolve_document_uri(base, uri),
                Err(UriError::BadUri(uri.into())),
                "{uri:?}"
            );
        }
        for b in ["api.digipost.no", "ftp://x", "https://", "https://a:b:c"] {
            assert_eq!(
                resolve_document_uri(b, "/x"),
                Err(UriError::BadBase(b.into())),
                "{b}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(base in "\\PC{0,30}", uri in "\\PC{0,40}", id in "\\PC{0,8}", limit in any::<u32>()) {
            let _ = resolve_document_uri(&base, &uri);
            let _ = list_inbox(&id, Some(limit), Some(limit));
            let _ = document_content(&id, &id);
        }
    }
}
