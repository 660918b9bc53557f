//! NgDP's push service: deliver each message (and receipt) to the receiving system, resending
//! until it answers 200.
//!
//! Only a 200 counts: a receiving system answers it after storing the message durably, and
//! anything else (no connection, 4xx, 5xx, even 201) means NgDP must send again. Waits double
//! from the initial backoff up to a cap, without jitter, so a test sees the same schedule
//! every run. Files are streamed from disk on every attempt and never read whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::multipart::{Form, Part};

use super::state::{Delivery, State};

/// The longest wait between two attempts, as the brief for NgDP's resends.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often and how patiently to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRule {
    /// Attempts per delivery, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryRule {
    fn default() -> Self {
        RetryRule {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryRule {
    /// The wait after failed attempt number `attempt` (1 for the first).
    pub fn wait_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How a file goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `multipart/form-data` with one part `file` named `filename`, as NgDP pushes MeMos.
    Multipart {
        /// The part's file name (`<messageUUID>.xml`).
        filename: String,
        /// The part's content type.
        content_type: String,
    },
    /// The file as the body, with this content type.
    Raw {
        /// The body's content type.
        content_type: String,
    },
}

/// One delivery to make.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which record it updates.
    pub delivery: Delivery,
    /// The file sent.
    pub path: PathBuf,
    /// Its name, for logs.
    pub name: String,
    /// Where it goes.
    pub url: reqwest::Url,
    /// How.
    pub payload: Payload,
}

/// What one attempt got.
enum Outcome {
    Status(u16),
    Failed(String),
}

/// Deliver `job`, resending under `rule`; true when it was delivered.
pub async fn deliver(
    client: &reqwest::Client,
    job: &Job,
    authorization: Option<&str>,
    rule: RetryRule,
    state: &State,
) -> bool {
    let max = rule.max_attempts.max(1);
    for attempt in 1..=max {
        let outcome = match attempt_once(client, job, authorization).await {
            Ok(status) => Outcome::Status(status),
            Err(e) => Outcome::Failed(e),
        };
        let done = matches!(outcome, Outcome::Status(200));
        let exhausted = !done && attempt == max;
        state.update(job.delivery, |r| {
            r.attempts = attempt;
            match &outcome {
                Outcome::Status(s) => {
                    r.last_status = Some(*s);
                    r.last_error = None;
                }
                Outcome::Failed(e) => {
                    r.last_status = None;
                    r.last_error = Some(e.clone());
                }
            }
            r.done = done;
            r.exhausted = exhausted;
        });
        match &outcome {
            Outcome::Status(200) => {
                tracing::info!(file = %job.name, url = %job.url, attempt, "delivered");
                return true;
            }
            Outcome::Status(status) => {
                tracing::warn!(file = %job.name, url = %job.url, attempt, status, "delivery refused")
            }
            Outcome::Failed(error) => {
                tracing::warn!(file = %job.name, url = %job.url, attempt, %error, "delivery failed")
            }
        }
        if exhausted {
            tracing::error!(file = %job.name, attempts = attempt, "giving up");
            return false;
        }
        tokio::time::sleep(rule.wait_after(attempt)).await;
    }
    false
}

/// One attempt: the HTTP status, or why there was none.
async fn attempt_once(
    client: &reqwest::Client,
    job: &Job,
    authorization: Option<&str>,
) -> Result<u16, String> {
    let (body, length) = open_body(&job.path).await?;
    let mut request = client.post(job.url.clone());
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    request = match &job.payload {
        Payload::Multipart {
            filename,
            content_type,
        } => {
            let part = Part::stream_with_length(body, length)
                .file_name(filename.clone())
                .mime_str(content_type)
                .map_err(|e| format!("content type {content_type:?}: {e}"))?;
            request.multipart(Form::new().part("file", part))
        }
        Payload::Raw { content_type } => request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body),
    };
    let response = request.send().await.map_err(|e| error_chain(&e))?;
    let status = response.status().as_u16();
    // Read the answer to the end so the connection can be reused; its content is not needed.
    let _ = response.bytes().await;
    Ok(status)
}

/// The file as a streaming body, and its length.
async fn open_body(path: &Path) -> Result<(reqwest::Body, u64), String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let length = file
        .metadata()
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    Ok((reqwest::Body::from(file), length))
}

/// An error with its causes, as one line (reqwest's own message hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let rule = RetryRule {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        };
        let waits: Vec<u128> = (1..=9).map(|a| rule.wait_after(a).as_millis()).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(rule.wait_after(u32::MAX), Duration::from_secs(30));
    }
}
