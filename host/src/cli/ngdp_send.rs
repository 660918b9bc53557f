//! `dpost ngdp send`: one MeMo message to NgDP, validated first, recorded before it goes out,
//! retried on network errors and 5xx, and never sent twice under one messageUUID.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use super::Exit;
use super::serve::ConfigArgs;
use crate::clock;
use crate::keystore::Keystore;
use crate::memo::MemoError;
use crate::memo::json as memo_json;
use crate::ngdp::client::NgdpClient;
use crate::ngdp::send::{self, CheckError, Outcome, SendRetry, read_receipt};
use crate::runtime::pool::InstancePool;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::Store;
use crate::store::ngdp::sent_status;

/// `dpost ngdp send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The sending system's id.
    #[arg(long, value_name = "ID")]
    system: String,
    /// The MeMo message (XML); several are sent as one batch (a tar archive compressed with
    /// LZMA), all validated before any is sent.
    #[arg(required_unless_present = "spec", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Instead of FILEs: build the message from this description (as `dpost memo new`) and
    /// the `--file` documents, keep it under the data folder's `outgoing/`, and send it.
    #[arg(
        long,
        value_name = "FILE.toml",
        conflicts_with = "files",
        requires = "documents"
    )]
    spec: Option<PathBuf>,
    /// With --spec: a document to send; the first is the main document.
    #[arg(long = "file", value_name = "PATH")]
    documents: Vec<PathBuf>,
    /// POSTs at most before giving up on network errors and 5xx.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    attempts: u32,
    /// The wait after the first failed attempt, milliseconds; it doubles after each.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    retry_delay_ms: u64,
    /// Print a JSON result.
    #[arg(long)]
    json: bool,
}

impl SendArgs {
    pub fn run(mut self) -> anyhow::Result<Exit> {
        let (file, ngdp, serve) = self.config.load()?;
        if let Some(spec) = self.spec.take() {
            // The message as sent is kept: what left the organisation must be on record.
            let outgoing = serve.data_dir.join("outgoing");
            std::fs::create_dir_all(&outgoing)
                .with_context(|| format!("cannot create {}", outgoing.display()))?;
            let draft = outgoing.join(format!("draft-{}.xml", uuid::Uuid::new_v4()));
            let Some(uuid) = super::memo::write_from_spec(&spec, &self.documents, &draft)? else {
                return Ok(Exit::CheckFailed);
            };
            let kept = outgoing.join(format!("{}.xml", uuid.to_ascii_lowercase()));
            std::fs::rename(&draft, &kept)
                .with_context(|| format!("cannot write {}", kept.display()))?;
            self.files = vec![kept];
        }
        let Some(system) = ngdp.system(&self.system).cloned() else {
            anyhow::bail!(
                "no system {} is configured in the {} environment",
                self.system,
                ngdp.environment
            );
        };
        if self.files.len() > 1 {
            return self.run_batch(&file, &ngdp, &system);
        }
        let path = self.files[0].clone();
        let name = path.display().to_string();

        // 1. The component validates the whole message, streamed, before anything is recorded.
        let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
        let mut instance = runtime.instantiate(Keystore::new())?;
        // For reading NgDP's answers while the send runs.
        let pool = InstancePool::new(runtime.clone(), Keystore::new());
        let checked = match send::check(&mut instance, &path) {
            Ok(c) => c,
            Err(e) => {
                let lines = refusal_lines(e).map_err(|e| checking(e, &name))?;
                return self.refuse(&name, &lines);
            }
        };
        if !checked.is_valid() {
            if self.json {
                outln!(
                    "{}",
                    json!({ "file": name, "uuid": checked.uuid, "status": "invalid", "sent": false,
                            "problems": memo_json::problems(&checked.problems) })
                )?;
                return Ok(Exit::CheckFailed);
            }
            return self.refuse(&name, &problem_lines(&checked.problems));
        }
        let uuid = checked.uuid.to_ascii_lowercase();

        // 2. Recorded before the first byte goes out; a message sent before is left alone.
        let clock = clock::system();
        let mut store = Store::open_location(&file.store_location())?;
        let before = store.ngdp_sent_record(&uuid)?;
        if let Some(r) = before.as_ref().filter(|r| sent_before(&r.status)) {
            if self.json {
                outln!(
                    "{}",
                    json!({ "file": name, "uuid": uuid, "status": r.status, "sent": false, "already_sent": true })
                )?;
            } else {
                outln!(
                    "{uuid} was sent before ({}); not sending it again",
                    r.status
                )?;
            }
            return Ok(Exit::Ok);
        }
        let record =
            store.ngdp_record_sending(&uuid, &system.id, &ngdp.environment, clock.now_unix())?;

        // 3. POST, retried.
        let client = NgdpClient::new(&ngdp, &system)?;
        let retry = SendRetry {
            attempts: self.attempts,
            first_delay: Duration::from_millis(self.retry_delay_ms),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut count_error = None;
        let outcome = rt.block_on(send::send(
            &client,
            &pool,
            &uuid,
            &path,
            retry,
            record.attempts > 0,
            || {
                if let Err(e) = store.ngdp_sent_attempted(&uuid, clock.now_unix()) {
                    count_error.get_or_insert(e);
                }
            },
        ));
        if let Some(e) = count_error {
            tracing::warn!(error = %e, "an attempt could not be counted in the store");
        }

        // 4. The outcome, recorded.
        match outcome {
            Outcome::Sent { body, attempts } => {
                let receipt = parse_receipt(&mut instance, &body);
                store.ngdp_mark_sent(&uuid, receipt.as_deref(), clock.now_unix())?;
                let receipt_json = receipt
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
                if self.json {
                    outln!(
                        "{}",
                        json!({ "file": name, "uuid": uuid, "status": sent_status::SENT, "sent": true,
                                "attempts": attempts, "receipt": receipt_json })
                    )?;
                } else {
                    let status = receipt_json
                        .as_ref()
                        .and_then(|r| r["receiptStatus"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "no receipt".into());
                    outln!("sent {uuid} ({status}, {attempts} attempt(s))")?;
                }
                Ok(Exit::Ok)
            }
            Outcome::Failed { reason, attempts } => {
                store.ngdp_mark_failed(&uuid, &reason, clock.now_unix())?;
                if self.json {
                    outln!(
                        "{}",
                        json!({ "file": name, "uuid": uuid, "status": sent_status::FAILED, "sent": false,
                                "attempts": attempts, "reason": reason })
                    )?;
                } else {
                    errln!("{uuid} was not sent ({attempts} attempt(s)): {reason}");
                }
                Ok(Exit::Error)
            }
        }
    }

    /// Several files: all validated, then the ones not sent before go out as one batch.
    fn run_batch(
        &self,
        file: &crate::config::ConfigFile,
        ngdp: &crate::config::ngdp::NgdpSettings,
        system: &crate::config::ngdp::System,
    ) -> anyhow::Result<Exit> {
        // 1. Every message validated before anything is recorded or sent.
        let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
        let mut instance = runtime.instantiate(Keystore::new())?;
        // For reading NgDP's answers while the send runs.
        let pool = InstancePool::new(runtime.clone(), Keystore::new());
        let mut checked = Vec::new();
        let mut invalid = false;
        let mut seen = std::collections::HashSet::new();
        for path in &self.files {
            let name = path.display().to_string();
            let lines: Vec<Line> = match send::check(&mut instance, path) {
                Ok(c) if c.is_valid() => {
                    let uuid = c.uuid.to_ascii_lowercase();
                    if seen.insert(uuid.clone()) {
                        checked.push((path.clone(), uuid));
                        continue;
                    }
                    vec![(
                        0,
                        0,
                        String::new(),
                        format!("messageUUID {uuid} is in the batch twice"),
                    )]
                }
                Ok(c) => problem_lines(&c.problems),
                Err(e) => refusal_lines(e).map_err(|e| checking(e, &name))?,
            };
            invalid = true;
            self.print_problems(&name, &lines)?;
        }
        if invalid {
            if !self.json {
                errln!("the batch has invalid messages; nothing was sent");
            }
            return Ok(Exit::CheckFailed);
        }

        // 2. Recorded before the first byte goes out; messages sent before are left out.
        let clock = clock::system();
        let mut store = Store::open_location(&file.store_location())?;
        // One transaction for the batch's records: committed before the POST, one fsync.
        let (members, already, earlier) = store.in_transaction(|store| {
            let mut members = Vec::new();
            let mut already = Vec::new();
            let mut earlier = false;
            for (path, uuid) in checked {
                let before = store.ngdp_sent_record(&uuid)?;
                if before.is_some_and(|r| sent_before(&r.status)) {
                    already.push(uuid);
                    continue;
                }
                let record = store.ngdp_record_sending(
                    &uuid,
                    &system.id,
                    &ngdp.environment,
                    clock.now_unix(),
                )?;
                earlier |= record.attempts > 0;
                members.push(send::Member { uuid, path });
            }
            Ok((members, already, earlier))
        })?;
        if members.is_empty() {
            if self.json {
                outln!(
                    "{}",
                    json!({ "batch": true, "sent": 0, "already_sent": already })
                )?;
            } else {
                outln!(
                    "all {} messages were sent before; nothing sent",
                    already.len()
                )?;
            }
            return Ok(Exit::Ok);
        }

        // 3. One POST of the batch, retried.
        let client = NgdpClient::new(ngdp, system)?;
        let retry = SendRetry {
            attempts: self.attempts,
            first_delay: Duration::from_millis(self.retry_delay_ms),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut count_error = None;
        let store_path = file.store_path();
        let spool_dir = store_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let upload = (system.batch_upload, spool_dir);
        let outcome = rt.block_on(send::send_batch(
            &client,
            &pool,
            &members,
            upload,
            retry,
            earlier,
            || {
                let counted = store.in_transaction(|store| {
                    for m in &members {
                        store.ngdp_sent_attempted(&m.uuid, clock.now_unix())?;
                    }
                    Ok(())
                });
                if let Err(e) = counted {
                    count_error.get_or_insert(e);
                }
            },
        ));
        if let Some(e) = count_error {
            tracing::warn!(error = %e, "an attempt could not be counted in the store");
        }

        // 4. The outcome, recorded for every member.
        match outcome {
            Outcome::Sent { body, attempts } => {
                // One `Receipt` for the whole transmission (SendMemo: 201 `Receipt`, NgDP
                // OpenAPI 1.68.0), kept with every member.
                let receipt = read_receipt(&mut instance, &body).map(|r| (body.as_str(), r));
                let mut statuses = Vec::new();
                for m in &members {
                    let receipt = receipt.as_ref().map(|(text, _)| *text);
                    store.ngdp_mark_sent(&m.uuid, receipt, clock.now_unix())?;
                    statuses.push(
                        json!({ "file": m.path.display().to_string(), "uuid": m.uuid,
                        "status": sent_status::SENT, "receipt": receipt.is_some() }),
                    );
                }
                if self.json {
                    outln!(
                        "{}",
                        json!({ "batch": true, "sent": members.len(), "attempts": attempts,
                                "already_sent": already, "messages": statuses })
                    )?;
                } else {
                    outln!(
                        "sent a batch of {} messages ({}, {attempts} attempt(s)); {} sent before",
                        members.len(),
                        match &receipt {
                            Some((_, r)) => format!(
                                "receipt {}",
                                r.receipt_status
                                    .as_ref()
                                    .map(|s| memo_json::wit_name(s)
                                        .to_ascii_uppercase()
                                        .replace('-', "_"))
                                    .unwrap_or_else(|| "without a status".into())
                            ),
                            None => "no receipt".into(),
                        },
                        already.len()
                    )?;
                }
                Ok(Exit::Ok)
            }
            Outcome::Failed { reason, attempts } => {
                store.in_transaction(|store| {
                    for m in &members {
                        store.ngdp_mark_failed(&m.uuid, &reason, clock.now_unix())?;
                    }
                    Ok(())
                })?;
                if self.json {
                    outln!(
                        "{}",
                        json!({ "batch": true, "sent": 0, "attempts": attempts, "reason": reason,
                                "status": sent_status::FAILED })
                    )?;
                } else {
                    errln!(
                        "the batch of {} messages was not sent ({attempts} attempt(s)): {reason}",
                        members.len()
                    );
                }
                Ok(Exit::Error)
            }
        }
    }

    /// Print one file's problems (text: FILE:LINE:COL: PATH: message; JSON: one object).
    fn print_problems(&self, name: &str, lines: &[Line]) -> anyhow::Result<()> {
        if self.json {
            let problems: Vec<_> = lines
                .iter()
                .map(|(l, c, p, m)| json!({ "line": l, "column": c, "path": p, "message": m }))
                .collect();
            outln!(
                "{}",
                json!({ "file": name, "status": "invalid", "sent": false, "problems": problems })
            )?;
            return Ok(());
        }
        for (line, column, path, message) in lines {
            match (line, path.is_empty()) {
                (0, _) => outln!("{name}: error: {message}")?,
                (_, true) => outln!("{name}:{line}:{column}: error: {message}")?,
                (_, false) => outln!("{name}:{line}:{column}: {path}: {message}")?,
            }
        }
        Ok(())
    }

    /// Print why the message is refused locally; exit 1, nothing recorded or sent.
    fn refuse(&self, name: &str, lines: &[Line]) -> anyhow::Result<Exit> {
        self.print_problems(name, lines)?;
        if !self.json {
            errln!("{name} is not a valid MeMo message; nothing was sent");
        }
        Ok(Exit::CheckFailed)
    }
}

/// One problem as printed: line, column (0 when unknown), path, message.
type Line = (u32, u32, String, String);

/// The validator's problems, each with its severity.
fn problem_lines(problems: &[crate::bindings::memo_wit::Problem]) -> Vec<Line> {
    problems
        .iter()
        .map(|p| {
            (
                p.line,
                p.column,
                p.path.clone(),
                format!("{}: {}", memo_json::wit_name(&p.severity), p.message),
            )
        })
        .collect()
}

/// Why a file that could not be checked is refused; `Err` when that is no fault of the
/// message (the file cannot be read, the component failed).
fn refusal_lines(e: CheckError) -> Result<Vec<Line>, CheckError> {
    match e {
        CheckError::Memo(MemoError::NotMemo {
            line,
            column,
            message,
            ..
        }) => Ok(vec![(line, column, String::new(), message)]),
        CheckError::NoUuid => Ok(vec![(
            0,
            0,
            String::new(),
            "the message has no messageUUID".into(),
        )]),
        e => Err(e),
    }
}

fn checking(e: CheckError, name: &str) -> anyhow::Error {
    anyhow::Error::from(e).context(format!("checking {name}"))
}

/// Whether a message with this recorded status went out before (a `sending` or `failed`
/// record may be sent again).
fn sent_before(status: &str) -> bool {
    status != sent_status::SENDING && status != sent_status::FAILED
}

/// The response body when the component accepts it as a receipt (NgDP answers a send with
/// one); `None` for an empty or other body.
fn parse_receipt(instance: &mut crate::runtime::Instance, body: &str) -> Option<String> {
    read_receipt(instance, body).map(|_| body.to_owned())
}
