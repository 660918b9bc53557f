//! The Digipost API client: every request signed, every response verified before anything
//! in it is used.
//!
//! ```text
//! request ──component: build──▶ sign (component canonical string, host key) ──▶ reqwest
//! response ──component: verify (entrypoint certificate, host clock)──▶ parse (component)
//! ```
//! The server certificate comes from the entrypoint (`GET /`), fetched once per base URL per
//! process. Content answers with a 307 to a one-time link; the client follows it itself
//! (reqwest's redirects are off) and sends no Digipost header there: the link carries its
//! own authorisation, and the signature headers are for the API alone. Idempotent requests
//! (all of the inbox's) are retried on network errors, timeouts and 5xx; see [`RetryPolicy`].
//!
//! Two answers are taken unsigned, as Digipost's own clients take them (docs/digipost-wire.md):
//! - the entrypoint: the Java client has not checked its signature since 2016
//!   (digipost-api-client-java c7a1813, `ApiServiceImpl.java:306-310`) and the .NET client
//!   checks none; TLS vouches for it. A signature that is there is checked, and a failure is
//!   logged, not fatal, since no published client has ever checked one.
//! - the 307 from `/content`: whether Digipost signs it is not known (the Java client skipped
//!   it 2017-2019). A signature that is there must verify; an unsigned 307 is followed (the
//!   one-time token in `Location` is the protection) and [`Content::redirect_signed`] says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::inbox::{
    self, DocumentAction, HttpRequest, Inbox, InboxDocument, InboxError, SchemaVersion,
};
use super::retry::RetryPolicy;
use super::signing::{self as dsign, Body, DigipostError, Header, Request, Response};
use crate::clock::Clock;
use crate::runtime::InstancePool;
use dpost_guest::digipost::verification::VerifyError;

/// The response header carrying Digipost's signature.
const SIGNATURE: &str = "X-Digipost-Signature";

/// Server certificates by base URL, for the life of the process.
static CERTIFICATES: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();

/// How the client reaches the API.
#[derive(Debug)]
pub struct ClientOptions {
    /// The API's base URL, e.g. `https://api.digipost.no`.
    pub base_url: String,
    /// The broker id (`X-Digipost-UserId`).
    pub broker_id: String,
    /// The name of the broker's key in the pool's keystore.
    pub key_name: String,
    /// Time limit per request, connection to last byte.
    pub request_timeout: Duration,
    /// Retries of idempotent requests.
    pub retry: RetryPolicy,
}

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL cannot be used.
    #[error("the base URL {url:?} is not usable: {reason}")]
    BadBaseUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A request could not be built, or a document parsed.
    #[error(transparent)]
    Inbox(#[from] InboxError),
    /// A request could not be signed.
    #[error(transparent)]
    Signing(#[from] DigipostError),
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] crate::runtime::GuestError),
    /// The network failed (connection, TLS, timeout) on every attempt.
    #[error("{method} {url}: {source}")]
    Network {
        /// The method.
        method: String,
        /// Where.
        url: String,
        /// What reqwest said.
        source: reqwest::Error,
    },
    /// The response failed verification; nothing from it was used.
    #[error("{method} {path}: response refused: {source}")]
    Refused {
        /// The method.
        method: String,
        /// The request path.
        path: String,
        /// Why it was refused.
        source: VerifyError,
    },
    /// Digipost refused the request's signature and echoed its own canonical string. Keyed on
    /// the `===START===` echo, not the code: Digipost's documented answer is 403
    /// `GENERAL_ERROR` (digipost-docs f5b24ff, `security.rst`).
    #[error("{method} {path}: Digipost refused the request signature (403)")]
    SignatureRejected {
        /// The method.
        method: String,
        /// The request path.
        path: String,
        /// The server's canonical string, from the 403.
        server: String,
        /// The canonical string dpost signed.
        ours: String,
    },
    /// Digipost answered with an error status. Code and type are shown as Digipost wrote
    /// them, known or not.
    #[error("{method} {path}: HTTP {status}{}{}{}{}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(), error_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(), message.as_ref().filter(|m| !m.is_empty()).map(|m| format!(": {m}")).unwrap_or_default(), if *verified { "" } else { " (unverified response)" })]
    Status {
        /// The method.
        method: String,
        /// The request path.
        path: String,
        /// The status.
        status: u16,
        /// Digipost's error code, when the body had one.
        code: Option<String>,
        /// Digipost's error type (`SERVER`, `CLIENT_DATA`, ...), when the body had one.
        error_type: Option<String>,
        /// Digipost's error message.
        message: Option<String>,
        /// Whether the error response's signature verified.
        verified: bool,
    },
    /// A one-time content link did not serve the content (expired, used, or the content
    /// host failed); another attempt asks for a fresh link.
    #[error("GET {path}: the one-time content link answered {status}")]
    ContentLink {
        /// The link's path.
        path: String,
        /// What it answered.
        status: u16,
    },
    /// The server did something the protocol does not allow.
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether another attempt may succeed.
    fn retryable(&self) -> bool {
        match self {
            ClientError::Network { .. } | ClientError::ContentLink { .. } => true,
            ClientError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A response, verified unless `signed` is false (which only [`Unsigned`] allows).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<Header>,
    body: Vec<u8>,
    signed: bool,
}

/// Which answers may come without `X-Digipost-Signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsigned {
    /// None: every answer must verify.
    Refused,
    /// A redirect (the 307 from `/content`); any other answer must verify.
    RedirectAllowed,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// A document's content.
#[derive(Debug, Clone)]
pub struct Content {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The media type the content host gave.
    pub content_type: Option<String>,
    /// How the API handed over the one-time link: `Some(true)` a verified 307, `Some(false)`
    /// a 307 without a signature (followed; kept in the archive so it stays visible), `None`
    /// when the API answered with the content itself.
    pub redirect_signed: Option<bool>,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Digipost deleted it.
    Now,
    /// Digipost no longer had it (a previous delete went through before a crash).
    AlreadyGone,
}

/// A document id as the inbox listing knows it.
#[derive(Debug, Clone)]
pub enum Listed {
    /// A document of the inbox.
    Document(InboxDocument),
    /// An attachment of the document `owner`; it goes with its document and cannot be deleted
    /// alone.
    Attachment {
        /// The document it is attached to.
        owner: i64,
        /// The attachment as listed.
        attachment: InboxDocument,
    },
}

/// A client of one Digipost API for one broker.
#[derive(Debug)]
pub struct DigipostClient {
    http: reqwest::Client,
    base: reqwest::Url,
    base_str: String,
    broker_id: String,
    key_name: String,
    pool: Arc<InstancePool>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    accept: String,
}

impl DigipostClient {
    /// A client for `options`, calling the component through `pool` (whose keystore holds
    /// the broker key) and reading time from `clock`.
    pub fn new(
        options: ClientOptions,
        pool: Arc<InstancePool>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        let base_str = options.base_url.trim_end_matches('/').to_owned();
        let bad = |reason: String| ClientError::BadBaseUrl {
            url: options.base_url.clone(),
            reason,
        };
        let base = reqwest::Url::parse(&base_str).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad(
                "it must be an http(s) URL such as https://api.digipost.no".into(),
            ));
        }
        let http = reqwest::Client::builder()
            // The 307 to a content link is followed by hand, without the signature headers.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("dpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("cannot set up the HTTP client: {e}")))?;
        let accept = pool.with(|i| inbox::media_type(i, SchemaVersion::V8))??;
        Ok(DigipostClient {
            http,
            base,
            base_str,
            broker_id: options.broker_id,
            key_name: options.key_name,
            pool,
            clock,
            retry: options.retry,
            accept,
        })
    }

    /// The API's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_str
    }

    /// The server certificate the entrypoint publishes (fetched once per base URL).
    pub async fn certificate(&self) -> Result<Arc<Vec<u8>>, ClientError> {
        let cache = CERTIFICATES.get_or_init(Default::default);
        if let Some(c) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.base_str)
        {
            return Ok(c.clone());
        }
        let req = self.accepting("GET", "/".into());
        let answer = self
            .with_retries(|| self.exchange(&req, None, Unsigned::Refused))
            .await?;
        let entrypoint = self
            .pool
            .with(|i| inbox::parse_entrypoint(i, &answer.body))??;
        let certificate = Arc::new(entrypoint.certificate.into_bytes());
        // TLS vouches for the entrypoint; Digipost's clients never checked its signature
        // (see the module's notes). One that is there is checked against the certificate it
        // carries, which catches a mangled answer, but a failure is not fatal.
        if answer.header(SIGNATURE).is_some()
            && let Err(e) = self.verify(&req, &answer, &certificate)
        {
            tracing::warn!(error = %e, "the entrypoint's signature does not verify; using its certificate as TLS delivered it");
        }
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.base_str.clone(), certificate.clone());
        Ok(certificate)
    }

    /// A page of `sender_id`'s inbox, newest first.
    pub async fn list(
        &self,
        sender_id: &str,
        offset: Option<u32>,
        limit: Option<u32>,
    ) -> Result<Inbox, ClientError> {
        let req = self
            .pool
            .with(|i| inbox::list_request(i, sender_id, offset, limit))??;
        let answer = self.call(&req).await?;
        if answer.status != 200 {
            return Err(ClientError::Protocol(format!(
                "GET {}: expected 200, got {}",
                req.target, answer.status
            )));
        }
        Ok(self.pool.with(|i| inbox::parse_inbox(i, &answer.body))??)
    }

    /// Find `document_id` in `sender_id`'s inbox, walking it page by page (newest first).
    /// `None` when the inbox does not list it.
    pub async fn find(
        &self,
        sender_id: &str,
        document_id: i64,
    ) -> Result<Option<Listed>, ClientError> {
        const PAGE: u32 = 1000;
        let mut offset = 0u32;
        loop {
            let page = self.list(sender_id, Some(offset), Some(PAGE)).await?;
            let documents = page.documents;
            let mut roots = Vec::with_capacity(documents.len());
            for (i, d) in documents.iter().enumerate() {
                let root = d
                    .attached_to
                    .and_then(|p| roots.get(p as usize).copied())
                    .unwrap_or(i);
                roots.push(root);
                if d.id == document_id {
                    return Ok(Some(if root == i {
                        Listed::Document(d.clone())
                    } else {
                        Listed::Attachment {
                            owner: documents[root].id,
                            attachment: d.clone(),
                        }
                    }));
                }
            }
            let count = roots.iter().enumerate().filter(|(i, r)| i == *r).count() as u32;
            // A server that never ends its listing cannot keep the walk going past u32.
            match offset.checked_add(count) {
                Some(next) if count >= PAGE => offset = next,
                _ => return Ok(None),
            }
        }
    }

    /// The request for `action` on a listed document: its `content-uri`/`delete-uri`, else its
    /// link, else the documented path (the component decides), held to the API's origin.
    pub fn document_request(
        &self,
        sender_id: &str,
        document: &InboxDocument,
        action: DocumentAction,
    ) -> Result<HttpRequest, ClientError> {
        Ok(self
            .pool
            .with(|i| inbox::document_request(i, &self.base_str, sender_id, document, action))??)
    }

    /// The content of a listed document or attachment (see [`Self::document_request`]).
    pub async fn content(
        &self,
        sender_id: &str,
        document: &InboxDocument,
    ) -> Result<Content, ClientError> {
        let req = self.document_request(sender_id, document, DocumentAction::Content)?;
        self.content_at(&req).await
    }

    /// The content behind a content request: the signed request answers 307 to a one-time
    /// link, which is then fetched without Digipost headers.
    pub async fn content_at(&self, req: &HttpRequest) -> Result<Content, ClientError> {
        let certificate = self.certificate().await?;
        // One attempt is the signed request and the one-time link it answers: a link cannot be
        // used twice, so a failed download starts again from a fresh link.
        self.with_retries(|| async {
            let answer = self
                .exchange(req, Some(&certificate), Unsigned::RedirectAllowed)
                .await?;
            match answer.status {
                200 => Ok(Content {
                    content_type: answer.header("content-type").map(str::to_owned),
                    bytes: answer.body,
                    redirect_signed: None,
                }),
                301 | 302 | 303 | 307 | 308 => {
                    let location = answer.header("location").ok_or_else(|| {
                        ClientError::Protocol(format!(
                            "GET {}: {} without a Location",
                            req.target, answer.status
                        ))
                    })?;
                    if !answer.signed {
                        tracing::info!(target = %req.target, "following an unsigned {} to the one-time content link", answer.status);
                    }
                    let mut content = self.follow(location, &certificate).await?;
                    content.redirect_signed = Some(answer.signed);
                    Ok(content)
                }
                other => Err(ClientError::Protocol(format!(
                    "GET {}: expected 307, got {other}",
                    req.target
                ))),
            }
        })
        .await
    }

    /// Delete a listed document (see [`Self::document_request`]).
    pub async fn delete(
        &self,
        sender_id: &str,
        document: &InboxDocument,
    ) -> Result<Deleted, ClientError> {
        let req = self.document_request(sender_id, document, DocumentAction::Delete)?;
        self.delete_at(&req).await
    }

    /// A delete request for `target` (a path and query on the API, e.g. one
    /// [`Self::document_request`] made earlier and the archive kept).
    pub fn delete_request(&self, target: String) -> HttpRequest {
        self.accepting("DELETE", target)
    }

    /// The documented delete path of a document, for one archived before its listed
    /// `delete-uri` was kept.
    pub fn delete_request_by_id(
        &self,
        sender_id: &str,
        document_id: i64,
    ) -> Result<HttpRequest, ClientError> {
        Ok(self
            .pool
            .with(|i| inbox::delete_request(i, sender_id, &document_id.to_string()))??)
    }

    /// The documented content path of a document, for a caller that has only its id.
    pub fn content_request_by_id(
        &self,
        sender_id: &str,
        document_id: i64,
    ) -> Result<HttpRequest, ClientError> {
        Ok(self
            .pool
            .with(|i| inbox::content_request(i, sender_id, &document_id.to_string()))??)
    }

    /// Send a delete. A verified 404 is [`Deleted::AlreadyGone`] whatever its code: the only
    /// published sample of Digipost's answer for a missing inbox document is 404
    /// `GENERAL_ERROR`/`SERVER` (digipost-api-client-dotnet 4425582,
    /// `InboxDocumentNotExisting.xml`), not `DOCUMENT_NOT_FOUND`. Callers delete only
    /// documents they listed, so a 404 means a delete before (a crash between it and its
    /// record) went through.
    pub async fn delete_at(&self, req: &HttpRequest) -> Result<Deleted, ClientError> {
        match self.call(req).await {
            Ok(a) if (200..300).contains(&a.status) => Ok(Deleted::Now),
            Ok(a) => Err(ClientError::Protocol(format!(
                "DELETE {}: expected 200, got {}",
                req.target, a.status
            ))),
            Err(ClientError::Status {
                status: 404,
                verified: true,
                ..
            }) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// `method target` asking for the API's documents.
    fn accepting(&self, method: &str, target: String) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            target,
            headers: vec![Header {
                name: "Accept".into(),
                value: self.accept.clone(),
            }],
        }
    }

    /// Send a signed request with retries and verify the answer; error statuses become errors.
    async fn call(&self, req: &HttpRequest) -> Result<Answer, ClientError> {
        let certificate = self.certificate().await?;
        self.with_retries(|| self.exchange(req, Some(&certificate), Unsigned::Refused))
            .await
    }

    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut n = 0;
        loop {
            match attempt().await {
                Err(e) if e.retryable() && n < self.retry.retries => {
                    let wait = self.retry.delay(n);
                    tracing::info!(error = %e, ?wait, attempt = n + 1, "retrying");
                    tokio::time::sleep(wait).await;
                    n += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed request and its verified answer. With `certificate` `None` (the entrypoint
    /// itself) the answer is returned unverified for the caller to check; `unsigned` says
    /// which answers may lack a signature (they come back with `signed: false`).
    async fn exchange(
        &self,
        req: &HttpRequest,
        certificate: Option<&[u8]>,
        unsigned: Unsigned,
    ) -> Result<Answer, ClientError> {
        let now = self.clock.now_unix();
        let signed = self.pool.with(|i| {
            let date = dsign::format_date(i, now)?;
            let request = Request {
                method: req.method.clone(),
                target: req.target.clone(),
                date,
                user_id: self.broker_id.clone(),
                body: None,
            };
            dsign::sign_request(i, &request, &self.key_name)
        })??;
        let url = format!("{}{}", self.base_str, req.target);
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            ClientError::Protocol(format!("{:?} is not an HTTP method", req.method))
        })?;
        let mut builder = self.http.request(method, &url);
        for h in req.headers.iter().chain(&signed.headers) {
            builder = builder.header(&h.name, &h.value);
        }
        let network = |source| ClientError::Network {
            method: req.method.clone(),
            url: url.clone(),
            source,
        };
        let response = builder.send().await.map_err(network)?;
        let mut answer = read(response).await.map_err(network)?;
        let Some(certificate) = certificate else {
            answer.signed = false;
            return match answer.status {
                200..=299 => Ok(answer),
                _ => Err(self.status_error(req, &answer, false, &signed.canonical)),
            };
        };
        if unsigned == Unsigned::RedirectAllowed
            && (300..400).contains(&answer.status)
            && answer.header(SIGNATURE).is_none()
        {
            answer.signed = false;
            return Ok(answer);
        }
        let verified = self.verify(req, &answer, certificate);
        match (answer.status, verified) {
            (200..=399, Ok(())) => Ok(answer),
            (200..=399, Err(e)) => Err(e),
            (_, v) => Err(self.status_error(req, &answer, v.is_ok(), &signed.canonical)),
        }
    }

    /// Follow a one-time link: no Digipost headers; verified when it is on the API's origin
    /// (where the API signs everything it serves).
    async fn follow(&self, location: &str, certificate: &[u8]) -> Result<Content, ClientError> {
        let url = self.base.join(location).map_err(|e| {
            ClientError::Protocol(format!("the content link {location:?} is not a URL: {e}"))
        })?;
        let network = |source| ClientError::Network {
            method: "GET".into(),
            url: url.to_string(),
            source,
        };
        let response = self.http.get(url.clone()).send().await.map_err(network)?;
        let answer = read(response).await.map_err(network)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let req = HttpRequest {
            method: "GET".into(),
            target,
            headers: Vec::new(),
        };
        if url.origin() == self.base.origin() {
            self.verify(&req, &answer, certificate)?;
        }
        match answer.status {
            200 => Ok(Content {
                content_type: answer.header("content-type").map(str::to_owned),
                bytes: answer.body,
                redirect_signed: None,
            }),
            // An expired or consumed link: the next attempt asks for a new one.
            status => Err(ClientError::ContentLink {
                path: url.path().to_owned(),
                status,
            }),
        }
    }

    fn verify(
        &self,
        req: &HttpRequest,
        answer: &Answer,
        certificate: &[u8],
    ) -> Result<(), ClientError> {
        // SHA-256 runs several times faster natively than in the sandbox; the component still
        // compares the digest with X-Content-SHA256 and checks the signature over it.
        let body = (!answer.body.is_empty()).then(|| {
            Body::Sha256Base64(
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&answer.body)),
            )
        });
        let resp = Response {
            status: answer.status,
            request_path: req.target.clone(),
            headers: answer.headers.clone(),
            body,
        };
        let now = self.clock.now_unix();
        match self
            .pool
            .with(|i| dsign::verify_response(i, &resp, certificate, now))?
        {
            Ok(()) => Ok(()),
            Err(DigipostError::Verify(source)) => Err(ClientError::Refused {
                method: req.method.clone(),
                path: path_of(&req.target).to_owned(),
                source,
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn status_error(
        &self,
        req: &HttpRequest,
        answer: &Answer,
        verified: bool,
        ours: &str,
    ) -> ClientError {
        let path = path_of(&req.target).to_owned();
        if answer.status == 403 {
            let text = String::from_utf8_lossy(&answer.body);
            if let Ok(Ok(Some(server))) = self
                .pool
                .with(|i| dsign::server_canonical_from_error(i, &text))
            {
                return ClientError::SignatureRejected {
                    method: req.method.clone(),
                    path,
                    server,
                    ours: ours.to_owned(),
                };
            }
        }
        let body = match answer.body.is_empty() {
            true => None,
            false => self
                .pool
                .with(|i| inbox::parse_error_body(i, &answer.body))
                .ok()
                .and_then(Result::ok),
        };
        ClientError::Status {
            method: req.method.clone(),
            path,
            status: answer.status,
            code: body.as_ref().map(|b| inbox::error_code_name(&b.code)),
            error_type: body
                .as_ref()
                .and_then(|b| b.error_type.as_ref())
                .map(inbox::error_type_name),
            message: body.and_then(|b| b.message).map(|m| m.trim().to_owned()),
            verified,
        }
    }
}

fn path_of(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

async fn read(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            Some(Header {
                name: n.as_str().to_owned(),
                value: v.to_str().ok()?.to_owned(),
            })
        })
        .collect();
    let body = response.bytes().await?.to_vec();
    Ok(Answer {
        status,
        headers,
        body,
        signed: true,
    })
}
