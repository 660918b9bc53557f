//! `dpost sim …`: the simulators, for offline tests and demos.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use super::Exit;
use super::input::read_file;
use crate::clock;
use crate::keystore::{PasswordSource, PrivateKey};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::sim::digipost::{
    DocumentUris, MissingDocument, PemLayout, Simulator, SimulatorConfig, Variants,
};
use crate::sim::ngdp::push::{DEFAULT_MAX_BACKOFF, RetryRule};
use crate::sim::ngdp::tls::TlsFiles;
use crate::sim::ngdp::{DEFAULT_CONCURRENCY, NgdpConfig, NgdpSimulator, PushSummary, ResendAnswer};

/// Simulators.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the Digipost organisation-inbox API for the documents in a folder. Prints the
    /// base URL (`http://ADDR`) as the first line of standard output, then serves until
    /// interrupted.
    Digipost {
        /// Where to listen; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: String,
        /// The documents: one folder per sender id, one file per document
        /// (`<id>.<ext>`, with an optional `<id>.json`).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The broker's certificate (PEM or DER), whose key must sign every request.
        #[arg(long, value_name = "FILE")]
        broker_cert: PathBuf,
        /// Accept only this broker id.
        #[arg(long, value_name = "ID")]
        broker_id: Option<String>,
        /// The simulator's private key (PEM), which signs every response.
        #[arg(long, value_name = "FILE")]
        server_key: PathBuf,
        /// The simulator's certificate (PEM), published by `GET /`.
        #[arg(long, value_name = "FILE")]
        server_cert: PathBuf,
        /// Where one-time content links point [default: the content host, a second listener
        /// on the same address and another port].
        #[arg(long, value_name = "URL")]
        content_base: Option<String>,
        /// Where the real service is not known: how the entrypoint's certificate PEM is
        /// wrapped (Digipost's documented example: 76).
        #[arg(long, value_name = "LAYOUT", value_enum, default_value = "76")]
        certificate_pem: PemLayout,
        /// Answer `GET /` without a signature (Digipost's clients never checked it).
        #[arg(long)]
        unsigned_entrypoint: bool,
        /// Answer the 307 from `/content` without a signature (not known for the live
        /// service).
        #[arg(long)]
        unsigned_redirect: bool,
        /// The error code of a missing document's 404 (the published sample:
        /// general-error).
        #[arg(long, value_name = "CODE", value_enum, default_value = "general-error")]
        missing_document: MissingDocument,
        /// How the listing names content and delete URIs.
        #[arg(long, value_name = "FORM", value_enum, default_value = "absolute")]
        document_uris: DocumentUris,
        /// Send and sign `X-Digipost-UserId` on every signed response.
        #[arg(long)]
        response_user_id: bool,
    },
    /// Play NgDP towards a receiving system, from a folder of MeMo files: push every message
    /// to its message endpoint (resending until it answers 200), push receipt files to its
    /// receipt endpoint, and serve NgDP's API (`/apis/v1/memos/…`: list, get, delete,
    /// receipts) plus `GET /_sim/status`. Prints `listening on http://ADDR` as the first line
    /// of standard output, then serves until interrupted (or, with --exit-when-done, until
    /// every push has settled).
    Ngdp(Box<NgdpArgs>),
}

/// `dpost sim ngdp`.
#[derive(Debug, clap::Args)]
pub struct NgdpArgs {
    /// Where to listen; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: String,
    /// The MeMo files to push and serve (`*.xml`, taken in name order).
    #[arg(long, value_name = "DIR")]
    messages: PathBuf,
    /// The receiving system's message endpoint, e.g.
    /// `https://host/api/MeMoV1/memos/?system-uuid=<id>`. Without it nothing is pushed
    /// (pull mode).
    #[arg(long, value_name = "URL", requires = "auth_header")]
    target: Option<String>,
    /// The Authorization header value registered for the receiving system, sent with every
    /// push.
    #[arg(long, value_name = "VALUE")]
    auth_header: Option<String>,
    /// Push each message as a raw `application/xml` body instead of `multipart/form-data`.
    #[arg(long)]
    raw: bool,
    /// The receiving system's receipt endpoint (`…/api/MeMoV1/<id>/receipt`). Receipt files from
    /// --receipts go there, and so does the COMPLETED business receipt of every message sent
    /// to the simulator.
    #[arg(long, value_name = "URL", requires = "auth_header")]
    receipt_target: Option<String>,
    /// Receipt files (`*.json`, in name order): pushed to --receipt-target, or without it
    /// served to a pulling system (`GET receipts/`, `receipts-bulk/`).
    #[arg(long, value_name = "DIR")]
    receipts: Option<PathBuf>,
    /// Attempts per delivery before giving up.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// The wait after the first failed attempt, milliseconds; it doubles up to 30 s.
    #[arg(long, value_name = "N", default_value_t = 500)]
    initial_backoff_ms: u64,
    /// Deliveries in flight at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    concurrency: usize,
    /// The API requires `Authorization: Basic base64(SYSTEM_ID:API_TOKEN)` (any Basic
    /// credentials otherwise).
    #[arg(long, value_name = "ID", requires = "api_token")]
    system_id: Option<String>,
    /// The API token that goes with --system-id.
    #[arg(long, value_name = "TOKEN", requires = "system_id")]
    api_token: Option<String>,
    /// Exit once every push has settled: 0 when all were delivered, 1 when one exhausted
    /// its attempts. Prints a summary.
    #[arg(long)]
    exit_when_done: bool,
    /// Print the --exit-when-done summary as JSON.
    #[arg(long, requires = "exit_when_done")]
    json: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require mutual TLS: every client presents a certificate issued by a CA in this PEM
    /// file, as NgDP requires the receiving system's function certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Test hook: store the first N messages posted to the send API, then close the
    /// connection without answering, like a response lost in transit (the sender's retry
    /// must not make a second copy).
    #[arg(long, value_name = "N", default_value_t = 0)]
    drop_first_sends: usize,
    /// How a send of a messageUUID the simulator has already is answered: 201 again
    /// (created), 400 with an ErrorMessage (bad-request) or 409 (conflict). NgDP does not
    /// publish which.
    #[arg(long, value_name = "ANSWER", value_enum, default_value_t = ResendAnswer::Created)]
    resend_answer: ResendAnswer,
    /// Answer `GET receipts-bulk/` with 404, as for a system that may not use it (a client
    /// then reads receipts by id).
    #[arg(long)]
    no_receipts_bulk: bool,
    /// Test hook: answer the first N business receipts (`POST memos/{id}/receipt`) with 503.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fail_business_receipts: usize,
    /// Test hook: answer the first N `DELETE receipts/{id}` with 500 (the receipt stays).
    #[arg(long, value_name = "N", default_value_t = 0)]
    fail_receipt_deletes: usize,
}

impl SimCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            SimCommand::Digipost {
                listen,
                data,
                broker_cert,
                broker_id,
                server_key,
                server_cert,
                content_base,
                certificate_pem,
                unsigned_entrypoint,
                unsigned_redirect,
                missing_document,
                document_uris,
                response_user_id,
            } => {
                let config = SimulatorConfig {
                    data_dir: data,
                    broker_certificate: read_file(&broker_cert)?,
                    broker_id,
                    server_key: PrivateKey::load(&server_key, &PasswordSource::None)?,
                    server_certificate_pem: String::from_utf8(read_file(&server_cert)?)
                        .with_context(|| format!("{} is not a PEM file", server_cert.display()))?,
                    content_base,
                    token_secret: None,
                    variants: Variants {
                        certificate_pem,
                        entrypoint_signed: !unsigned_entrypoint,
                        redirect_signed: !unsigned_redirect,
                        missing_document,
                        document_uris,
                        response_user_id,
                    },
                };
                let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
                let tokio = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                tokio.block_on(async {
                    let sim = Simulator::new(config, runtime, clock::system())?;
                    let running = sim.start(&listen).await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{}", running.base_url())?;
                    out.flush()?;
                    drop(out);
                    errln!(
                        "Digipost simulator on {} (Ctrl-C stops it)",
                        running.base_url()
                    );
                    tokio::signal::ctrl_c()
                        .await
                        .context("waiting for Ctrl-C")?;
                    running.stop().await;
                    Ok::<_, anyhow::Error>(())
                })?;
                Ok(Exit::Ok)
            }
            SimCommand::Ngdp(args) => run_ngdp(*args),
        }
    }
}

fn run_ngdp(args: NgdpArgs) -> anyhow::Result<Exit> {
    let config = NgdpConfig {
        messages_dir: args.messages,
        target: args.target,
        push_authorization: args.auth_header,
        raw: args.raw,
        receipt_target: args.receipt_target,
        receipts_dir: args.receipts,
        retry: RetryRule {
            max_attempts: args.max_attempts,
            initial_backoff: std::time::Duration::from_millis(args.initial_backoff_ms),
            max_backoff: DEFAULT_MAX_BACKOFF,
        },
        concurrency: args.concurrency,
        api_credentials: args.system_id.zip(args.api_token),
        tls: args.tls_cert.zip(args.tls_key).map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: args.client_ca,
        }),
        drop_first_sends: args.drop_first_sends,
        resend_answer: args.resend_answer,
        receipts_bulk_absent: args.no_receipts_bulk,
        fail_business_receipts: args.fail_business_receipts,
        fail_receipt_deletes: args.fail_receipt_deletes,
    };
    let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    tokio.block_on(async {
        let sim = NgdpSimulator::new(config, runtime, clock::system())?;
        let running = sim.start(&args.listen).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.base_url())?;
        out.flush()?;
        drop(out);
        if args.exit_when_done {
            let summary = sim.push_all().await;
            running.stop().await;
            print_summary(&summary, args.json)?;
            return Ok(if summary.all_done() {
                Exit::Ok
            } else {
                Exit::CheckFailed
            });
        }
        errln!("NgDP simulator on {} (Ctrl-C stops it)", running.base_url());
        let pushing = {
            let sim = sim.clone();
            tokio::spawn(async move {
                let summary = sim.push_all().await;
                tracing::info!(delivered = summary.all_done(), "every push has settled");
            })
        };
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        pushing.abort();
        running.stop().await;
        Ok::<_, anyhow::Error>(Exit::Ok)
    })
}

fn print_summary(summary: &PushSummary, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "ok": summary.all_done(),
            "messages": summary.messages,
            "receipts_pushed": summary.receipts,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(out.flush()?);
    }
    for (kind, records) in [
        ("message", &summary.messages),
        ("receipt", &summary.receipts),
    ] {
        for r in records {
            let outcome = if r.done { "delivered" } else { "FAILED" };
            let last = match (r.last_status, &r.last_error) {
                (Some(s), _) => format!("HTTP {s}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "not attempted".to_owned(),
            };
            let id = r
                .uuid
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{kind} {}{id}: {outcome} after {} attempt(s), last {last}",
                r.file, r.attempts
            )?;
        }
    }
    let count = |rs: &[crate::sim::ngdp::state::PushRecord]| rs.iter().filter(|r| r.done).count();
    writeln!(
        out,
        "{}/{} messages and {}/{} receipts delivered",
        count(&summary.messages),
        summary.messages.len(),
        count(&summary.receipts),
        summary.receipts.len()
    )?;
    Ok(out.flush()?)
}
