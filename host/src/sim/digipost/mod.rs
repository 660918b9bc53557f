//! A Digipost organisation-inbox server for offline tests and demos: `dpost sim digipost`.
//!
//! It behaves as Digipost does towards a broker, through the same component as the client
//! (sources in docs/digipost-wire.md):
//! - every request's signature is checked with the broker's certificate: 403
//!   `GENERAL_ERROR` without an error type, echoing the simulator's own canonical string
//!   between `===START===` and `===SLUTT===` (digipost-docs f5b24ff, `security.rst` §5.1.2);
//!   400 with the Java client's codes for a missing or bad header (`MISSING_DATE_HEADER`,
//!   `INVALID_DATE_HEADER`, `INVALID_USER_ID_HEADER`, `MISSING_SIGNATURE`, `MISSING_SHA256`,
//!   `INVALID_SHA256`, `DATE_HEADER_OUTSIDE_ACCEPTED_INTERVAL`);
//! - every response is signed with the simulator's key, whose certificate `GET /` publishes;
//!   `X-Content-SHA256` only with a body (`security.rst` §4.1);
//! - content answers 307 to a one-time link on a second listener, another origin like
//!   Digipost's data host, which answers unsigned (30 seconds, once, for that document only;
//!   see [`links`]);
//! - `DELETE` hides a document from the listing; a missing one answers 404 `GENERAL_ERROR`
//!   (the published sample) or `DOCUMENT_NOT_FOUND`;
//! - where the real service is not known, [`Variants`] picks the behaviour.
//!
//! The component builds the canonical strings, writes the XML and makes and judges tokens;
//! the host checks RSA signatures with the broker's public key, signs with the server key,
//! reads the clock ([`Clock`], a fake one in tests) and draws the random UUIDs.

pub mod links;
pub mod mailbox;
pub mod variants;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body as HttpBody;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response as HttpResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest as _, Sha256};

use crate::bindings::digipost_signing_wit::{IncomingRequest, RequestError};
use crate::clock::Clock;
use crate::digipost::content_token::{self, ContentLink, Verdict};
use crate::digipost::inbox::{
    self, AuthenticationLevel, Entrypoint, ErrorBody, ErrorCode, ErrorType, Inbox, InboxDocument,
    Link, SchemaVersion,
};
use crate::digipost::signing::{self as dsign, Body, Header, Response};
use crate::keystore::{Keystore, PrivateKey};
use crate::runtime::{Instance, InstancePool, Runtime};
use links::{Consumed, LinkStore};
use mailbox::Mailbox;
pub use variants::{DocumentUris, MissingDocument, PemLayout, Variants};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The data folder is unusable.
    #[error(transparent)]
    Mailbox(#[from] mailbox::MailboxError),
    /// The broker certificate is unusable.
    #[error("the broker certificate: {0}")]
    BrokerCertificate(String),
    /// The server certificate is unusable.
    #[error("the server certificate: {0}")]
    ServerCertificate(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The component failed.
    #[error(transparent)]
    Guest(#[from] crate::runtime::GuestError),
}

/// What the simulator serves and with which keys.
#[derive(Debug)]
pub struct SimulatorConfig {
    /// One folder per sender id (see [`mailbox`]).
    pub data_dir: PathBuf,
    /// The broker's certificate (PEM or DER), whose key signs requests.
    pub broker_certificate: Vec<u8>,
    /// The only broker id accepted; any when `None`.
    pub broker_id: Option<String>,
    /// The simulator's private key, which signs responses.
    pub server_key: PrivateKey,
    /// Its certificate in PEM, published by `GET /`.
    pub server_certificate_pem: String,
    /// Where one-time links point (`http://host:port`); the listening address when `None`.
    pub content_base: Option<String>,
    /// The secret tokens are made from; a random one when `None`.
    pub token_secret: Option<String>,
    /// How to play what the real service does not publish.
    pub variants: Variants,
}

/// Misbehaviour to switch on, for tests of the client.
#[derive(Debug, Default)]
pub struct Faults {
    /// Corrupt the signature of every response except the entrypoint's.
    pub tamper_signatures: AtomicBool,
}

/// Counters, for tests and the log.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Content served through one-time links.
    pub contents_served: AtomicU64,
    /// Requests that carried a Digipost signature header to the content link.
    pub links_with_signature_headers: AtomicU64,
}

/// The simulator.
#[derive(Debug)]
pub struct Simulator {
    mailbox: Mailbox,
    links: LinkStore,
    pool: InstancePool,
    clock: Arc<dyn Clock>,
    /// The broker's certificate, as registered; requests are checked against its key.
    broker_certificate: Vec<u8>,
    broker_id: Option<String>,
    server_key: PrivateKey,
    certificate_pem: String,
    content_base: OnceLock<String>,
    api_base: OnceLock<String>,
    variants: Variants,
    secret: String,
    max_skew: i64,
    lifetime: i64,
    media_type: String,
    /// Misbehaviour to switch on.
    pub faults: Faults,
    /// What it has done.
    pub stats: Stats,
}

/// A simulator serving on a socket.
#[derive(Debug)]
pub struct RunningSimulator {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where the content host (the one-time links) listens: another port, so another origin.
    pub content_addr: SocketAddr,
    /// The simulator, for faults and stats.
    pub simulator: Arc<Simulator>,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSimulator {
    /// `http://<addr>`, the base URL to give the client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://<content addr>`, where one-time links point unless configured otherwise.
    pub fn content_url(&self) -> String {
        format!("http://{}", self.content_addr)
    }

    /// Stop serving and wait until it has.
    pub async fn stop(mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// Wait until the server stops (it does not by itself).
    pub async fn wait(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

struct Reply {
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
    /// Whether to sign it; some answers are unsigned in some [`Variants`].
    signed: bool,
}

impl Reply {
    fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            content_type: None,
            location: None,
            body: Vec::new(),
            signed: true,
        }
    }
}

impl Simulator {
    /// Load the data folder and keys.
    pub fn new(
        config: SimulatorConfig,
        runtime: Arc<Runtime>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, SimError> {
        let mailbox = Mailbox::load(&config.data_dir)?;
        // Refuse an unusable certificate at start rather than on every request.
        dpost_guest::digipost::certificate::rsa_public_key(&config.broker_certificate)
            .map_err(|e| SimError::BrokerCertificate(e.to_string()))?;
        let pool = InstancePool::new(runtime, Keystore::new());
        let (max_skew, lifetime, media_type) = pool.with(|i| -> Result<_, SimError> {
            let skew = i.call(|b, s| {
                b.dpost_protocol_digipost_signing()
                    .call_max_clock_skew_seconds(s)
            })?;
            let lifetime = content_token::lifetime_seconds(i).map_err(guest)?;
            let media = inbox::media_type(i, SchemaVersion::V8).map_err(guest)?;
            Ok((i64::from(skew), i64::from(lifetime), media))
        })??;
        // Re-wrapped in the layout asked for: the published example wraps at 76 columns.
        let der = dpost_guest::digipost::certificate::certificate_der(
            config.server_certificate_pem.as_bytes(),
        )
        .map_err(|e| SimError::ServerCertificate(e.to_string()))?;
        let certificate_pem = config.variants.certificate_pem.write(&STANDARD.encode(der));
        let secret = match config.token_secret {
            Some(s) => s,
            None => hex(&random_bytes::<32>()),
        };
        let content_base = OnceLock::new();
        if let Some(base) = config.content_base {
            let _ = content_base.set(base.trim_end_matches('/').to_owned());
        }
        Ok(Arc::new(Simulator {
            mailbox,
            links: LinkStore::default(),
            pool,
            clock,
            broker_certificate: config.broker_certificate,
            broker_id: config.broker_id,
            server_key: config.server_key,
            certificate_pem,
            content_base,
            api_base: OnceLock::new(),
            variants: config.variants,
            secret,
            max_skew,
            lifetime,
            media_type,
            faults: Faults::default(),
            stats: Stats::default(),
        }))
    }

    /// Listen on `addr` (e.g. `127.0.0.1:0`) and serve in a background task.
    pub async fn start(self: &Arc<Self>, addr: &str) -> Result<RunningSimulator, SimError> {
        let listen_err = |source| SimError::Listen {
            addr: addr.to_owned(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(listen_err)?;
        let local = listener.local_addr().map_err(listen_err)?;
        // The content host is another origin, as Digipost's (www.digipostdata.no) is: the
        // client must not send it the API's signature headers, and it answers unsigned.
        let content_listener = tokio::net::TcpListener::bind((local.ip(), 0))
            .await
            .map_err(listen_err)?;
        let content_local = content_listener.local_addr().map_err(listen_err)?;
        let _ = self.content_base.set(format!("http://{content_local}"));
        let _ = self.api_base.set(format!("http://{local}"));
        let api = axum::Router::new()
            .fallback(handle)
            .with_state(self.clone());
        let content = axum::Router::new()
            .fallback(handle_content)
            .with_state(self.clone());
        let mut shutdown = Vec::new();
        let mut tasks = Vec::new();
        for (listener, router) in [(listener, api), (content_listener, content)] {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            shutdown.push(tx);
            tasks.push(tokio::spawn(async move {
                let served = axum::serve(listener, router).with_graceful_shutdown(async {
                    let _ = rx.await;
                });
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "the Digipost simulator stopped");
                }
            }));
        }
        Ok(RunningSimulator {
            addr: local,
            content_addr: content_local,
            simulator: self.clone(),
            shutdown,
            tasks,
        })
    }

    /// One-time links issued and not yet used.
    pub fn live_links(&self) -> usize {
        self.links.live()
    }

    /// The content host: one-time links carry their own authorisation (the token).
    fn respond_content(&self, method: &str, target: &str, headers: &HeaderMap) -> Reply {
        let path = target.split('?').next().unwrap_or(target);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if headers.contains_key("x-digipost-signature") {
            self.stats
                .links_with_signature_headers
                .fetch_add(1, Ordering::Relaxed);
        }
        match (method, segments.as_slice()) {
            ("GET", ["documents", _]) => self.serve_link(target),
            _ => plain(
                StatusCode::NOT_FOUND,
                "no such resource on the content host",
            ),
        }
    }

    fn respond(&self, method: &str, target: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
        let path = target.split('?').next().unwrap_or(target);
        let query = target.split_once('?').map(|(_, q)| q);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let Err(reply) = self.authenticate(method, target, headers, body) {
            return reply;
        }
        match (method, segments.as_slice()) {
            ("GET", [""]) => Reply {
                signed: self.variants.entrypoint_signed,
                ..self.entrypoint()
            },
            ("GET", [sender, "inbox"]) => self.with_sender(sender, |s| self.list(s, query)),
            ("GET", [sender, "inbox", id, "content"]) => {
                self.with_sender(sender, |s| self.content_redirect(s, id))
            }
            ("DELETE", [sender, "inbox", id]) => self.with_sender(sender, |s| self.delete(s, id)),
            _ => self.error(
                StatusCode::NOT_FOUND,
                ErrorCode::GeneralError,
                Some(ErrorType::ClientData),
                &format!("no such resource: {method} {path}"),
            ),
        }
    }

    /// Digipost's checks of a signed request, in its order. The component decides (the same
    /// rules the client signs by); the simulator only turns its verdict into Digipost's answer.
    fn authenticate(
        &self,
        method: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Reply> {
        // The codes are the Java client's (ErrorCode.java), all CLIENT_TECHNICAL there.
        let bad = |code: ErrorCode, message: &str| {
            Err(self.error(
                StatusCode::BAD_REQUEST,
                code,
                Some(ErrorType::ClientTechnical),
                message,
            ))
        };
        let user = headers
            .get("x-digipost-userid")
            .and_then(|v| v.to_str().ok());
        if let (Some(user), Some(broker)) = (user, self.broker_id.as_deref())
            && broker != user
        {
            return Err(self.error(
                StatusCode::FORBIDDEN,
                ErrorCode::UnknownUserId,
                Some(ErrorType::ClientTechnical),
                &format!("unknown broker id {user}"),
            ));
        }
        let request = IncomingRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str().ok().map(|v| Header {
                        name: n.as_str().to_owned(),
                        value: v.to_owned(),
                    })
                })
                .collect(),
            body: (!body.is_empty())
                .then(|| Body::Sha256Base64(STANDARD.encode(Sha256::digest(body)))),
        };
        let now = self.clock.now_unix();
        let verdict = match self
            .pool
            .with(|i| dsign::verify_request(i, &request, &self.broker_certificate, now))
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) | Err(e) => {
                return Err(self.server_error(&e.to_string()));
            }
        };
        match verdict {
            Ok(()) => Ok(()),
            Err(RequestError::MissingHeader(h)) => {
                let code = match h.to_ascii_lowercase().as_str() {
                    "x-digipost-signature" => ErrorCode::MissingSignature,
                    "date" => ErrorCode::MissingDateHeader,
                    "x-digipost-userid" => ErrorCode::InvalidUserIdHeader,
                    "x-content-sha256" => ErrorCode::MissingSha256,
                    _ => ErrorCode::Other("PROBLEM_WITH_REQUEST".into()),
                };
                bad(code, &format!("the request has no {h} header"))
            }
            Err(RequestError::BadDate(d)) => bad(ErrorCode::InvalidDateHeader, &format!("the Date {d}")),
            Err(RequestError::DateSkew(skew)) => bad(
                ErrorCode::DateHeaderOutsideAcceptedInterval,
                &format!(
                    "the Date header is {} seconds from the server's clock (at most {} allowed)",
                    skew.unsigned_abs(),
                    self.max_skew
                ),
            ),
            Err(RequestError::BodyHashMismatch(_)) => bad(
                ErrorCode::InvalidSha256,
                "X-Content-SHA256 does not match the body",
            ),
            Err(RequestError::Malformed(m)) => {
                bad(ErrorCode::Other("PROBLEM_WITH_REQUEST".into()), &m)
            }
            Err(RequestError::BadCertificate(m)) => {
                Err(self.server_error(&format!("the broker certificate is unusable: {m}")))
            }
            // digipost-docs f5b24ff, security.rst §5.1.2: 403, GENERAL_ERROR, no error-type,
            // the server's canonical string between ===START=== and ===SLUTT===.
            Err(RequestError::BadSignature(b)) => Err(self.error(
                StatusCode::FORBIDDEN,
                ErrorCode::GeneralError,
                None,
                &format!(
                    "\nThe signature found in the X-Digipost-Signature header could not be verified.\n\
                     Possible reasons for this may be that the certificate used for signing is not the same that is uploaded to Digipost, or the format of the signature is invalid.\n\n\
                     Canonical string to sign generated by Digipost, with each line terminated with a newline character (\\n), was:\n\
                     ===START===\n{}===SLUTT===\n",
                    b.canonical
                ),
            )),
        }
    }

    fn with_sender(&self, sender: &str, f: impl FnOnce(i64) -> Reply) -> Reply {
        match sender.parse::<i64>() {
            Ok(s) if self.mailbox.has_sender(s) => f(s),
            _ => self.error(
                StatusCode::FORBIDDEN,
                ErrorCode::BrokerNotAuthorized,
                Some(ErrorType::Configuration),
                &format!("the broker may not act for sender {sender}"),
            ),
        }
    }

    fn entrypoint(&self) -> Reply {
        let e = Entrypoint {
            certificate: self.certificate_pem.clone(),
            links: Vec::new(),
        };
        self.xml(StatusCode::OK, |i| {
            inbox::write_entrypoint(i, &e, SchemaVersion::V8)
        })
    }

    fn list(&self, sender: i64, query: Option<&str>) -> Reply {
        let (mut offset, mut limit) = (0usize, 100usize);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let n = match v.parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    return self.error(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidQueryParameter,
                        Some(ErrorType::ClientTechnical),
                        &format!("{k} must be a number"),
                    );
                }
            };
            match k {
                "offset" => offset = n,
                "limit" if (1..=1000).contains(&n) => limit = n,
                "limit" => {
                    return self.error(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidQueryParameter,
                        Some(ErrorType::ClientTechnical),
                        "limit must be 1..=1000",
                    );
                }
                _ => {}
            }
        }
        let api = self.api_base.get().cloned().unwrap_or_default();
        let uris = self.variants.document_uris;
        let mut documents = Vec::new();
        for d in self.mailbox.page(sender, offset, limit) {
            let owner = documents.len() as u32;
            let entry = |id: i64, attached_to: Option<u32>, content_type: &str, delete: bool| {
                let content_path = format!("/{sender}/inbox/{id}/content");
                let delete_path = delete.then(|| format!("/{sender}/inbox/{id}"));
                let (content_uri, delete_uri, links) = match uris {
                    DocumentUris::Absolute => (
                        Some(format!("{api}{content_path}")),
                        delete_path.map(|p| format!("{api}{p}")),
                        Vec::new(),
                    ),
                    DocumentUris::Relative => (Some(content_path), delete_path, Vec::new()),
                    DocumentUris::Links => {
                        let link = |rel: &str, path: String| Link {
                            rel: Some(rel.to_owned()),
                            uri: format!("{api}{path}"),
                            media_type: None,
                        };
                        let mut links = vec![link(variants::REL_CONTENT, content_path)];
                        links.extend(delete_path.map(|p| link(variants::REL_DELETE, p)));
                        (None, None, links)
                    }
                };
                InboxDocument {
                    attached_to,
                    id,
                    reference_from_sender: d.reference_from_sender.clone(),
                    subject: d.subject.clone(),
                    sender: d.sender.clone(),
                    delivery_time: d.delivery_time.clone(),
                    first_accessed: None,
                    authentication_level: AuthenticationLevel::Other(
                        d.authentication_level.clone(),
                    ),
                    content_type: Some(content_type.to_owned()),
                    content_uri,
                    delete_uri,
                    links,
                }
            };
            documents.push(entry(d.id, None, &d.content.content_type, true));
            for (aid, file) in &d.attachments {
                documents.push(entry(*aid, Some(owner), &file.content_type, false));
            }
        }
        let page = Inbox { documents };
        self.xml(StatusCode::OK, |i| {
            inbox::write_inbox(i, &page, SchemaVersion::V8)
        })
    }

    fn content_redirect(&self, sender: i64, id: &str) -> Reply {
        let Some(id) = id
            .parse::<i64>()
            .ok()
            .filter(|id| self.mailbox.content(sender, *id).is_some())
        else {
            return self.not_found(id);
        };
        let now = self.clock.now_unix();
        let uuid = random_uuid();
        let base = self.content_base.get().cloned().unwrap_or_default();
        let made = self.pool.with(|i| {
            let token = content_token::make_token(i, id, &self.secret, &uuid)?;
            let link = content_token::build_link(
                i,
                &base,
                &ContentLink {
                    document_id: id,
                    token: token.clone(),
                    download: false,
                },
            )?;
            Ok::<_, content_token::ContentTokenError>((token, link))
        });
        match made {
            Ok(Ok((token, link))) => {
                self.links.issue(
                    sender,
                    content_token::TokenRecord {
                        document_id: id,
                        token,
                        created_at: now,
                    },
                );
                Reply {
                    location: Some(link),
                    signed: self.variants.redirect_signed,
                    ..Reply::empty(StatusCode::TEMPORARY_REDIRECT)
                }
            }
            Ok(Err(e)) => self.server_error(&e.to_string()),
            Err(e) => self.server_error(&e.to_string()),
        }
    }

    fn serve_link(&self, target: &str) -> Reply {
        let now = self.clock.now_unix();
        let judged = self.pool.with(|i| {
            let link = content_token::parse_link(i, target)?;
            let consumed = self.links.consume(i, &link, now, self.lifetime)?;
            Ok::<_, content_token::ContentTokenError>((link, consumed))
        });
        // The content host's error format is not published; plain text, unsigned.
        let refused = |status, message: &str| plain(status, message);
        let (link, sender) = match judged {
            Ok(Ok((link, Consumed::Open { sender }))) => (link, sender),
            Ok(Ok((_, Consumed::Refused(Verdict::Expired)))) => {
                return refused(StatusCode::GONE, "the link has expired");
            }
            Ok(Ok((_, Consumed::Refused(Verdict::Malformed)))) => {
                return refused(StatusCode::BAD_REQUEST, "the token is malformed");
            }
            Ok(Ok((_, Consumed::Refused(_)))) => {
                return refused(
                    StatusCode::NOT_FOUND,
                    "no such link (used, or never issued)",
                );
            }
            Ok(Err(e)) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
            Err(e) => {
                return self.server_error(&e.to_string());
            }
        };
        let Some(file) = self.mailbox.content(sender, link.document_id) else {
            return plain(StatusCode::NOT_FOUND, "the document is gone");
        };
        match std::fs::read(&file.path) {
            Ok(bytes) => {
                self.stats.contents_served.fetch_add(1, Ordering::Relaxed);
                Reply {
                    status: StatusCode::OK,
                    content_type: Some(file.content_type),
                    location: None,
                    body: bytes,
                    signed: false,
                }
            }
            Err(e) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read the content: {e}"),
            ),
        }
    }

    fn delete(&self, sender: i64, id: &str) -> Reply {
        match id.parse::<i64>() {
            Ok(n) if self.mailbox.delete(sender, n) => Reply::empty(StatusCode::OK),
            _ => self.not_found(id),
        }
    }

    fn not_found(&self, id: &str) -> Reply {
        match self.variants.missing_document {
            // InboxDocumentNotExisting.xml: an empty message.
            MissingDocument::GeneralError => self.error(
                StatusCode::NOT_FOUND,
                ErrorCode::GeneralError,
                Some(ErrorType::Server),
                "",
            ),
            MissingDocument::DocumentNotFound => self.error(
                StatusCode::NOT_FOUND,
                ErrorCode::DocumentNotFound,
                Some(ErrorType::ClientTechnical),
                &format!("no document {id} in this inbox"),
            ),
        }
    }

    /// A 500 `SERVER_ERROR`: the simulator itself failed.
    fn server_error(&self, message: &str) -> Reply {
        self.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Other("SERVER_ERROR".into()),
            Some(ErrorType::Server),
            message,
        )
    }

    fn error(
        &self,
        status: StatusCode,
        code: ErrorCode,
        error_type: Option<ErrorType>,
        message: &str,
    ) -> Reply {
        let body = ErrorBody {
            code,
            message: Some(message.to_owned()),
            error_type,
        };
        match self
            .pool
            .with(|i| inbox::write_error_body(i, &body, SchemaVersion::V8))
        {
            Ok(Ok(xml)) => Reply {
                status,
                content_type: Some(self.media_type.clone()),
                location: None,
                body: xml.into_bytes(),
                signed: true,
            },
            _ => plain(status, message),
        }
    }

    fn xml(
        &self,
        status: StatusCode,
        write: impl FnOnce(&mut Instance) -> Result<String, inbox::InboxError>,
    ) -> Reply {
        match self.pool.with(write) {
            Ok(Ok(xml)) => Reply {
                status,
                content_type: Some(self.media_type.clone()),
                location: None,
                body: xml.into_bytes(),
                signed: true,
            },
            Ok(Err(e)) => self.server_error(&e.to_string()),
            Err(e) => self.server_error(&e.to_string()),
        }
    }

    /// Sign `reply` as Digipost signs responses: `Date`, `X-Content-SHA256` when there is a
    /// body (digipost-docs f5b24ff, `security.rst` §4.1), `X-Digipost-UserId` when that
    /// variant is on, and the component's canonical response string signed here with the
    /// server key. An unsigned reply gets `Date` and no signature.
    fn sign(&self, path: &str, reply: Reply) -> HttpResponse {
        let now = self.clock.now_unix();
        let mut headers = Vec::new();
        if let Ok(Ok(date)) = self.pool.with(|i| dsign::format_date(i, now)) {
            headers.push(Header {
                name: "Date".into(),
                value: date,
            });
        }
        let hash = (!reply.body.is_empty()).then(|| STANDARD.encode(Sha256::digest(&reply.body)));
        if reply.signed {
            if let Some(hash) = &hash {
                headers.push(Header {
                    name: "X-Content-SHA256".into(),
                    value: hash.clone(),
                });
            }
            if let (true, Some(broker)) = (self.variants.response_user_id, &self.broker_id) {
                headers.push(Header {
                    name: "X-Digipost-UserId".into(),
                    value: broker.clone(),
                });
            }
            let resp = Response {
                status: reply.status.as_u16(),
                request_path: path.to_owned(),
                headers: headers.clone(),
                body: hash.clone().map(Body::Sha256Base64),
            };
            let canonical = self.pool.with(|i| dsign::canonical_response(i, &resp));
            if let Ok(Ok(canonical)) = canonical
                && let Ok(mut raw) = self.server_key.sign_pkcs1_sha256(canonical.as_bytes())
            {
                if self.faults.tamper_signatures.load(Ordering::Relaxed) && path != "/" {
                    raw[0] ^= 0x01;
                }
                headers.push(Header {
                    name: "X-Digipost-Signature".into(),
                    value: STANDARD.encode(raw),
                });
            }
        }
        let mut builder = HttpResponse::builder().status(reply.status);
        for h in headers {
            builder = builder.header(h.name, h.value);
        }
        if let Some(ct) = &reply.content_type {
            builder = builder.header("Content-Type", ct);
        }
        if let Some(location) = &reply.location {
            builder = builder.header("Location", location);
        }
        builder
            .body(HttpBody::from(reply.body))
            .unwrap_or_else(|_| {
                let mut r = HttpResponse::new(HttpBody::empty());
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            })
    }
}

/// Path and query as the request line had them.
fn target_of(request: &HttpRequest) -> String {
    request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    )
}

async fn handle(State(sim): State<Arc<Simulator>>, request: HttpRequest) -> HttpResponse {
    sim.stats.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().as_str().to_owned();
    let target = target_of(&request);
    let headers = request.headers().clone();
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let body = match axum::body::to_bytes(request.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => {
            let reply = sim.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::Other("REQUEST_TOO_LARGE".into()),
                Some(ErrorType::ClientData),
                "the body is too large",
            );
            return sim.sign(&path, reply);
        }
    };
    let reply = sim.respond(&method, &target, &headers, &body);
    tracing::debug!(%method, %target, status = reply.status.as_u16(), "simulator");
    sim.sign(&path, reply)
}

/// The content host: unsigned answers, no Digipost headers.
async fn handle_content(State(sim): State<Arc<Simulator>>, request: HttpRequest) -> HttpResponse {
    sim.stats.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().as_str().to_owned();
    let target = target_of(&request);
    let reply = sim.respond_content(&method, &target, request.headers());
    tracing::debug!(%method, %target, status = reply.status.as_u16(), "simulator content host");
    // Every content-host reply is unsigned (`signed: false`): only a Date goes with it.
    sim.sign(target.split('?').next().unwrap_or("/"), reply)
}

/// A plain-text answer, unsigned.
fn plain(status: StatusCode, message: &str) -> Reply {
    Reply {
        status,
        content_type: Some("text/plain; charset=utf-8".into()),
        location: None,
        body: message.as_bytes().to_vec(),
        signed: false,
    }
}

fn guest(e: impl std::fmt::Display) -> SimError {
    SimError::Guest(crate::runtime::GuestError::WrongWorld(e.to_string()))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS RNG failing is not something a simulator can recover from sensibly; a
    // predictable token in a test server is the lesser harm, and it is logged.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        tracing::error!("the system RNG failed; using a time-derived value");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4) UUID, drawn by the host for the component's token.
fn random_uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
