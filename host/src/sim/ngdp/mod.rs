//! An offline NgDP (Danish Digital Post) for integrators and tests: `dpost sim ngdp`.
//!
//! It plays both of NgDP's roles towards a receiving system, from a folder of MeMo files:
//! - push (`REST_PUSH`): every message goes to the system's message endpoint as
//!   `multipart/form-data` (one part `file`, named `<messageUUID>.xml`) or as a raw XML body,
//!   with the registered `Authorization` header, resent with doubling waits until it is
//!   answered 200 (see [`push`]); receipt files go to the receipt endpoint the same way;
//! - the API (`REST_PULL`, and receipts in both modes): list, fetch and delete messages, and
//!   accept business receipts, checked by the component (see [`api`]); take messages sent to
//!   NgDP, singly or in batches; serve the receipts waiting for a sender ([`receipts`]). It
//!   answers in the shapes NgDP's OpenAPI document 1.68.0 publishes (`docs/ngdp-wire.md`),
//!   and where NgDP's behaviour is not published it plays each plausible variant behind a
//!   switch ([`ResendAnswer`], [`NgdpConfig::receipts_bulk_absent`]).
//!
//! `GET /_sim/status` shows what happened ([`state::Status`]). The component reads each
//! message's UUID, checks receipts and compares credentials; the host moves the bytes.

pub mod api;
pub mod folder;
pub mod push;
pub mod receipts;
pub mod state;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::Clock;
use crate::keystore::Keystore;
use crate::runtime::{InstancePool, Runtime};
use folder::{FolderError, MessageFile};
use push::{Job, Payload, RetryRule};
use state::{Delivery, PushRecord, State, Status};
use tls::{TlsError, TlsFiles, TlsListener};

/// Deliveries in flight at once, as a push service spreads its work.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum NgdpSimError {
    /// A folder is unusable.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// A push URL is not a URL.
    #[error("{which} {url:?} is not a URL: {reason}")]
    BadUrl {
        /// Which option.
        which: &'static str,
        /// The value.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error("the HTTP client: {0}")]
    Client(String),
    /// HTTPS cannot be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the simulated NgDP pushes, and what it serves.
#[derive(Debug, Clone, Default)]
pub struct NgdpConfig {
    /// The MeMo files (`*.xml`), pushed and served in name order.
    pub messages_dir: PathBuf,
    /// The receiving system's message endpoint
    /// (`…/api/MeMoV1/memos/?system-uuid=<id>`); nothing is pushed when `None`.
    pub target: Option<String>,
    /// The `Authorization` header value registered for the receiving system, sent with
    /// every push.
    pub push_authorization: Option<String>,
    /// Push messages as a raw `application/xml` body instead of multipart.
    pub raw: bool,
    /// The receiving system's receipt endpoint (`…/api/MeMoV1/<id>/receipt`).
    pub receipt_target: Option<String>,
    /// Receipt files (`*.json`) to push there, in name order.
    pub receipts_dir: Option<PathBuf>,
    /// When to resend.
    pub retry: RetryRule,
    /// Deliveries in flight at once (at least 1).
    pub concurrency: usize,
    /// `(systemId, apiToken)` the API requires; any Basic credentials when `None`.
    pub api_credentials: Option<(String, String)>,
    /// Serve HTTPS (and mutual TLS with a client CA) instead of HTTP.
    pub tls: Option<TlsFiles>,
    /// A test hook: the first N sends are stored, then the connection is dropped without an
    /// answer, like a response lost in transit.
    pub drop_first_sends: usize,
    /// How a send of a messageUUID NgDP already has is answered (not published).
    pub resend_answer: ResendAnswer,
    /// `GET receipts-bulk/` answers 404, as for a system that may not use it.
    pub receipts_bulk_absent: bool,
    /// A test hook: the first N business receipts posted are answered 503.
    pub fail_business_receipts: usize,
    /// A test hook: the first N `DELETE receipts/{id}` are answered 500.
    pub fail_receipt_deletes: usize,
}

/// How the simulator answers a send (single or batch) whose messageUUID it already has. NgDP's
/// OpenAPI document 1.68.0 documents no 409 for SendMemo and does not say what happens, so
/// each plausible answer is a variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ResendAnswer {
    /// 201 with a receipt again (the message is stored once).
    #[default]
    Created,
    /// 400 with an `ErrorMessage` whose code says duplicate.
    BadRequest,
    /// 409 with an `ErrorMessage`.
    Conflict,
}

/// The simulator.
#[derive(Debug)]
pub struct NgdpSimulator {
    messages: Vec<MessageFile>,
    jobs: Vec<Job>,
    push_authorization: Option<String>,
    retry: RetryRule,
    concurrency: usize,
    /// `Basic base64(systemId:apiToken)` when credentials are configured.
    api_authorization: Option<String>,
    client: reqwest::Client,
    tls: Option<Arc<rustls::ServerConfig>>,
    pool: InstancePool,
    clock: Arc<dyn Clock>,
    state: State,
    /// Sends still to drop after storing them (see [`NgdpConfig::drop_first_sends`]).
    drops_left: std::sync::atomic::AtomicUsize,
    /// Where the business receipt for each message sent to the simulator goes (NgDP tells the
    /// sender how the recipient's system took it), when `--receipt-target` is given.
    receipt_target: Option<reqwest::Url>,
    /// Receipts waiting for a pull-mode sender (`GET receipts/`), when there is no receipt
    /// endpoint to push them to.
    receipt_queue: std::sync::Mutex<Vec<receipts::Waiting>>,
    /// See [`NgdpConfig::resend_answer`].
    resend_answer: ResendAnswer,
    /// `GET receipts-bulk/` is served.
    receipts_bulk: bool,
    /// Business receipts still to answer 503.
    receipt_failures: std::sync::atomic::AtomicUsize,
    /// Receipt deletions still to answer 500.
    receipt_delete_failures: std::sync::atomic::AtomicUsize,
}

/// How the pushes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSummary {
    /// Message deliveries, in file order.
    pub messages: Vec<PushRecord>,
    /// Receipt deliveries, in file order.
    pub receipts: Vec<PushRecord>,
}

impl PushSummary {
    /// Every delivery was answered 200.
    pub fn all_done(&self) -> bool {
        self.messages.iter().chain(&self.receipts).all(|r| r.done)
    }
}

/// A simulator serving on a socket.
#[derive(Debug)]
pub struct RunningNgdp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https` with TLS, else `http`.
    pub scheme: &'static str,
    /// The simulator, for its status.
    pub simulator: Arc<NgdpSimulator>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningNgdp {
    /// `http://<addr>` (`https://` with TLS), the base of the API (`<base>/apis/v1`).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stop serving and wait until it has.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl NgdpSimulator {
    /// Read the folders (each message's UUID through the component) and prepare the pushes.
    pub fn new(
        config: NgdpConfig,
        runtime: Arc<Runtime>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, NgdpSimError> {
        let pool = InstancePool::new(runtime, Keystore::new());
        let messages = folder::load_messages(&config.messages_dir, &pool)?;
        let mut jobs = Vec::new();
        let mut message_pushes = Vec::new();
        if let Some(target) = &config.target {
            let url = parse_url("--target", target)?;
            for m in &messages {
                let payload = if config.raw {
                    Payload::Raw {
                        content_type: "application/xml".into(),
                    }
                } else {
                    Payload::Multipart {
                        filename: format!("{}.xml", m.uuid),
                        content_type: "application/xml".into(),
                    }
                };
                jobs.push(Job {
                    delivery: Delivery::Message(message_pushes.len()),
                    path: m.path.clone(),
                    name: m.name.clone(),
                    url: url.clone(),
                    payload,
                });
                message_pushes.push(PushRecord::pending(m.name.clone(), Some(m.uuid.clone())));
            }
        }
        let mut receipt_pushes = Vec::new();
        let mut queued = Vec::new();
        if let (None, Some(dir)) = (&config.receipt_target, &config.receipts_dir) {
            // No endpoint to push them to: they wait for the system to pull them.
            for path in folder::files_with_extension(dir, "json")? {
                let text = std::fs::read_to_string(&path).map_err(|source| FolderError {
                    path: path.clone(),
                    source,
                })?;
                queued.push(receipts::Waiting {
                    id: uuid::Uuid::new_v4().to_string(),
                    receipt: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
                });
            }
        }
        if let (Some(target), Some(dir)) = (&config.receipt_target, &config.receipts_dir) {
            let url = parse_url("--receipt-target", target)?;
            for path in folder::files_with_extension(dir, "json")? {
                let name = folder::file_name(&path);
                jobs.push(Job {
                    delivery: Delivery::Receipt(receipt_pushes.len()),
                    path,
                    name: name.clone(),
                    url: url.clone(),
                    payload: Payload::Raw {
                        content_type: "application/json".into(),
                    },
                });
                receipt_pushes.push(PushRecord::pending(name, None));
            }
        }
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            // A receiving system answers once the message is stored; give a slow disk time,
            // but never hang a delivery for good.
            .read_timeout(std::time::Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NgdpSimError::Client(e.to_string()))?;
        let api_authorization = config.api_credentials.map(|(system, token)| {
            format!("Basic {}", STANDARD.encode(format!("{system}:{token}")))
        });
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let state = State::new(messages.len(), message_pushes, receipt_pushes);
        Ok(Arc::new(NgdpSimulator {
            messages,
            jobs,
            push_authorization: config.push_authorization,
            retry: config.retry,
            concurrency: config.concurrency.max(1),
            api_authorization,
            client,
            tls,
            pool,
            clock,
            state,
            drops_left: std::sync::atomic::AtomicUsize::new(config.drop_first_sends),
            receipt_queue: std::sync::Mutex::new(queued),
            resend_answer: config.resend_answer,
            receipts_bulk: !config.receipts_bulk_absent,
            receipt_failures: std::sync::atomic::AtomicUsize::new(config.fail_business_receipts),
            receipt_delete_failures: std::sync::atomic::AtomicUsize::new(
                config.fail_receipt_deletes,
            ),
            receipt_target: match &config.receipt_target {
                Some(t) => Some(parse_url("--receipt-target", t)?),
                None => None,
            },
        }))
    }

    /// The message files, in order, with their UUIDs.
    pub fn messages(&self) -> &[MessageFile] {
        &self.messages
    }

    /// Everything the simulator has done so far.
    pub fn status(&self) -> Status {
        self.state.status()
    }

    /// The bytes of a message sent to the simulator (single or in a batch).
    pub fn sent_message(&self, uuid: &str) -> Option<bytes::Bytes> {
        self.state.sent_message(uuid)
    }

    /// Listen on `addr` (e.g. `127.0.0.1:0`) and serve the API in a background task.
    pub async fn start(self: &Arc<Self>, addr: &str) -> Result<RunningNgdp, NgdpSimError> {
        let listen_err = |source| NgdpSimError::Listen {
            addr: addr.to_owned(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(listen_err)?;
        let local = listener.local_addr().map_err(listen_err)?;
        let router = axum::Router::new()
            .fallback(api::handle)
            .with_state(self.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stopped = async {
            let _ = rx.await;
        };
        let (scheme, task) = match &self.tls {
            None => (
                "http",
                tokio::spawn(async move {
                    let served = axum::serve(listener, router).with_graceful_shutdown(stopped);
                    if let Err(e) = served.await {
                        tracing::error!(error = %e, "the NgDP simulator stopped");
                    }
                }),
            ),
            Some(config) => {
                let listener = TlsListener::new(listener, config.clone()).map_err(listen_err)?;
                (
                    "https",
                    tokio::spawn(async move {
                        let served = axum::serve(listener, router).with_graceful_shutdown(stopped);
                        if let Err(e) = served.await {
                            tracing::error!(error = %e, "the NgDP simulator stopped");
                        }
                    }),
                )
            }
        };
        Ok(RunningNgdp {
            addr: local,
            scheme,
            simulator: self.clone(),
            shutdown: Some(tx),
            task,
        })
    }

    /// Make every delivery (messages and receipts), a few at a time, each until it is
    /// answered 200 or its attempts run out. Returns when all have settled.
    pub async fn push_all(self: &Arc<Self>) -> PushSummary {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..self.jobs.len() {
            let sim = self.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only fails if it were.
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                let job = &sim.jobs[index];
                push::deliver(
                    &sim.client,
                    job,
                    sim.push_authorization.as_deref(),
                    sim.retry,
                    &sim.state,
                )
                .await;
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a delivery task failed");
            }
        }
        let status = self.state.status();
        PushSummary {
            messages: status.messages,
            receipts: status.receipts_pushed,
        }
    }
}

impl NgdpSimulator {
    /// After NgDP took a message: push its business receipt (COMPLETED, as a recipient
    /// system that accepted it would) to the sender's receipt endpoint, in the background,
    /// retried like every delivery; with no endpoint, keep it for the sender to pull.
    pub(crate) fn push_business_receipt(&self, uuid: &str) {
        let transmission = uuid::Uuid::new_v4().to_string();
        let receipt = serde_json::json!({
            "transmissionId": transmission,
            "messageUUID": uuid,
            "messageId": null,
            "errorCode": null,
            "errorMessage": null,
            "timeStamp": humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.clock.now_unix().max(0) as u64)
            ).to_string(),
            "receiptStatus": "COMPLETED",
        });
        let Some(url) = self.receipt_target.clone() else {
            // No endpoint: the sender pulls it (`GET receipts/`).
            self.queue_receipt(receipt);
            return;
        };
        let body = receipt.to_string();
        let (client, auth, rule, uuid) = (
            self.client.clone(),
            self.push_authorization.clone(),
            self.retry,
            uuid.to_owned(),
        );
        tokio::spawn(async move {
            for attempt in 1..=rule.max_attempts.max(1) {
                let mut request = client
                    .post(url.clone())
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                if let Some(a) = &auth {
                    request = request.header("Authorization", a);
                }
                match request.send().await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        tracing::info!(%uuid, attempt, "business receipt delivered");
                        return;
                    }
                    Ok(r) => {
                        tracing::warn!(%uuid, attempt, status = r.status().as_u16(), "business receipt refused")
                    }
                    Err(e) => {
                        tracing::warn!(%uuid, attempt, error = %e, "business receipt not delivered")
                    }
                }
                tokio::time::sleep(rule.wait_after(attempt)).await;
            }
        });
    }
}

fn parse_url(which: &'static str, url: &str) -> Result<reqwest::Url, NgdpSimError> {
    reqwest::Url::parse(url).map_err(|e| NgdpSimError::BadUrl {
        which,
        url: url.to_owned(),
        reason: e.to_string(),
    })
}
