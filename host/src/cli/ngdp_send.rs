//! `dpost ngdp send`: one MeMo message to NgDP, validated first, recorded before it goes out,
//! retried on network errors and 5xx, and never sent twice under one messageUUID.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::Exit;
use super::serve::ConfigArgs;
use crate::bindings::memo_wit as wit;
use crate::clock;
use crate::keystore::Keystore;
use crate::memo::MemoError;
use crate::memo::json as memo_json;
use crate::ngdp::client::NgdpClient;
use crate::ngdp::send::{self, CheckError, Outcome, SendRetry};
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
    /// The MeMo message (XML).
    file: PathBuf,
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

fn severity(p: &wit::Problem) -> &'static str {
    match p.severity {
        wit::Severity::Error => "error",
        wit::Severity::Warning => "warning",
    }
}

impl SendArgs {
    pub fn run(self) -> anyhow::Result<Exit> {
        let (file, ngdp, _serve) = self.config.load()?;
        let Some(system) = ngdp.system(&self.system).cloned() else {
            anyhow::bail!(
                "no system {} is configured in the {} environment",
                self.system,
                ngdp.environment
            );
        };
        let name = self.file.display().to_string();

        // 1. The component validates the whole message, streamed, before anything is recorded.
        let runtime = Runtime::new(RuntimeOptions::default())?;
        let mut instance = runtime.instantiate(Keystore::new())?;
        let checked = match send::check(&mut instance, &self.file) {
            Ok(c) => c,
            Err(CheckError::Memo(MemoError::NotMemo {
                line,
                column,
                message,
                ..
            })) => {
                return Ok(self.refuse(&name, &[(line, column, String::new(), message)]));
            }
            Err(CheckError::NoUuid) => {
                let lines = [(0, 0, String::new(), "the message has no messageUUID".into())];
                return Ok(self.refuse(&name, &lines));
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("checking {name}"))),
        };
        if !checked.is_valid() {
            let lines: Vec<_> = checked
                .problems
                .iter()
                .map(|p| {
                    (
                        p.line,
                        p.column,
                        p.path.clone(),
                        format!("{}: {}", severity(p), p.message),
                    )
                })
                .collect();
            if self.json {
                println!(
                    "{}",
                    json!({ "file": name, "uuid": checked.uuid, "status": "invalid", "sent": false,
                            "problems": memo_json::problems(&checked.problems) })
                );
                return Ok(Exit::CheckFailed);
            }
            return Ok(self.refuse(&name, &lines));
        }
        let uuid = checked.uuid.to_ascii_lowercase();

        // 2. Recorded before the first byte goes out; a message sent before is left alone.
        let clock = clock::system();
        let mut store = Store::open(&file.store_path())?;
        let before = store.ngdp_sent_record(&uuid)?;
        if let Some(r) = &before
            && r.status != sent_status::SENDING
            && r.status != sent_status::FAILED
        {
            if self.json {
                println!(
                    "{}",
                    json!({ "file": name, "uuid": uuid, "status": r.status, "sent": false, "already_sent": true })
                );
            } else {
                println!(
                    "{uuid} was sent before ({}); not sending it again",
                    r.status
                );
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
            &uuid,
            &self.file,
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
                    println!(
                        "{}",
                        json!({ "file": name, "uuid": uuid, "status": sent_status::SENT, "sent": true,
                                "attempts": attempts, "receipt": receipt_json })
                    );
                } else {
                    let status = receipt_json
                        .as_ref()
                        .and_then(|r| r["receiptStatus"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "no receipt".into());
                    println!("sent {uuid} ({status}, {attempts} attempt(s))");
                }
                Ok(Exit::Ok)
            }
            Outcome::Failed { reason, attempts } => {
                store.ngdp_mark_failed(&uuid, &reason, clock.now_unix())?;
                if self.json {
                    println!(
                        "{}",
                        json!({ "file": name, "uuid": uuid, "status": sent_status::FAILED, "sent": false,
                                "attempts": attempts, "reason": reason })
                    );
                } else {
                    eprintln!("{uuid} was not sent ({attempts} attempt(s)): {reason}");
                }
                Ok(Exit::Error)
            }
        }
    }

    /// Print why the message is refused locally; exit 1, nothing recorded or sent.
    fn refuse(&self, name: &str, lines: &[(u32, u32, String, String)]) -> Exit {
        if self.json {
            let problems: Vec<_> = lines
                .iter()
                .map(|(l, c, p, m)| json!({ "line": l, "column": c, "path": p, "message": m }))
                .collect();
            println!(
                "{}",
                json!({ "file": name, "status": "invalid", "sent": false, "problems": problems })
            );
        } else {
            for (line, column, path, message) in lines {
                match (line, path.is_empty()) {
                    (0, _) => println!("{name}: error: {message}"),
                    (_, true) => println!("{name}:{line}:{column}: error: {message}"),
                    (_, false) => println!("{name}:{line}:{column}: {path}: {message}"),
                }
            }
            eprintln!("{name} is not a valid MeMo message; nothing was sent");
        }
        Exit::CheckFailed
    }
}

/// The response body when the component accepts it as a receipt (NgDP answers a send with
/// one); `None` for an empty or other body.
fn parse_receipt(instance: &mut crate::runtime::Instance, body: &str) -> Option<String> {
    if body.trim().is_empty() {
        return None;
    }
    match instance.call(|b, s| b.dpost_protocol_memo().call_parse_receipt(s, body)) {
        Ok(Ok(_)) => Some(body.to_owned()),
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "NgDP's answer to the send is not a receipt");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the component could not read NgDP's answer");
            None
        }
    }
}
