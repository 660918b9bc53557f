//! The delivery worker of `dpost serve`: moves each webhook's cursor (creating deliveries),
//! then posts what is due, one delivery at a time per round, signed, with a time limit.
//!
//! Any answer but 2xx, and any network failure or timeout, is a failed attempt: tried again
//! after [`super::backoff::delay`], until the webhook's give-up time since the delivery's
//! first attempt has passed; then it is kept as `failed` with the last reason, for
//! `GET /api/v1/webhooks/deliveries?state=failed` and `dpost webhooks list`, and can be
//! retried. Redirects are not followed: a signed event goes only where it was configured.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api::events::EventBody;
use crate::clock::Clock;
use crate::config::webhooks::Webhook;
use crate::ngdp::metrics::Metrics;
use crate::store::webhooks::{Delivery, WebhookFilter};
use crate::store::{Store, StoreError};

/// How often the worker looks for new events and due deliveries when it has nothing to do.
pub const TICK: Duration = Duration::from_millis(500);
/// Events a webhook's cursor moves over per round.
const ENQUEUE_PAGE: u32 = 500;
/// Deliveries of one webhook attempted per round, so that one busy webhook does not keep
/// the others waiting for long.
const DELIVERY_PAGE: u32 = 32;
/// Time a worker holds a delivery it claimed beyond the webhook's time limit for one post:
/// for the store calls around it and clocks of replicas a little apart.
const CLAIM_MARGIN_SECONDS: i64 = 30;

/// How long a claim lasts by default, renewed before each post (see [`Worker::round_for`]):
/// one post's time limit and the margin. A worker that dies holds its deliveries no longer
/// than this.
fn default_claim_seconds(hook: &Webhook) -> i64 {
    hook.timeout.as_secs() as i64 + CLAIM_MARGIN_SECONDS
}

/// The worker's parts.
pub struct Worker {
    /// Its own connection to the store.
    pub store: Arc<Mutex<Store>>,
    /// The configured webhooks.
    pub hooks: Vec<Webhook>,
    /// The host's clock: attempt times, signature timestamps, give-up times.
    pub clock: Arc<dyn Clock>,
    /// Backlog and failures.
    pub metrics: Arc<Metrics>,
    /// The jitter's seed (`super::backoff`).
    pub seed: u64,
    /// `[serve] claim_seconds`: every claim's length when set, else each webhook's default.
    pub claim_seconds: Option<i64>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered,
    /// Anything else, said for an operator.
    Failed(String),
}

impl Worker {
    /// A worker on a store connection of its own, each webhook's cursor set (a webhook new
    /// to the store starts at the end of the log), with a random jitter seed.
    pub fn start(
        store: &crate::store::Location,
        hooks: Vec<Webhook>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Worker, StoreError> {
        let mut store = Store::open_location(store)?;
        let now = clock.now_unix();
        for hook in &hooks {
            store.webhooks_enqueue(&hook.name, &WebhookFilter::default(), 0, now)?;
        }
        Ok(Worker {
            store: Arc::new(Mutex::new(store)),
            hooks,
            clock,
            metrics,
            seed: super::backoff::random_seed(),
            claim_seconds: None,
        })
    }

    /// Run until the process ends. A store that cannot be read is logged and tried again at
    /// the next tick; it never stops the worker.
    pub async fn run(self) {
        let http = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dpost/", env!("CARGO_PKG_VERSION"), " webhooks"))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: no HTTP client; nothing will be delivered");
                return;
            }
        };
        // One task per webhook: a slow or dead endpoint (each post waits up to its time
        // limit) delays only its own deliveries, never another webhook's.
        let worker = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..worker.hooks.len() {
            let (w, http) = (worker.clone(), http.clone());
            tasks.spawn(async move {
                loop {
                    match w.round_for(i, &http).await {
                        Ok(0) => tokio::time::sleep(TICK).await,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "webhooks: the store cannot be used just now");
                            tokio::time::sleep(TICK).await;
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One round over every webhook, one after the other; the number of attempts made.
    pub async fn round(&self, http: &reqwest::Client) -> Result<usize, StoreError> {
        let mut attempts = 0;
        for i in 0..self.hooks.len() {
            attempts += self.round_for(i, http).await?;
        }
        Ok(attempts)
    }

    /// One round for webhook `i`: move its cursor, claim what is due, attempt it, update the
    /// backlog gauge; the number of attempts made.
    ///
    /// Several `dpost serve` may share the store: each delivery is claimed, so one worker
    /// posts it. Before each post the worker renews its claim on the deliveries it has not
    /// posted yet, so a page of slow endpoints never outlasts it; a delivery whose claim
    /// another worker took over meanwhile (this one stalled past its claim) is left to that
    /// worker.
    /// How long this worker's claims on `hook`'s deliveries last.
    fn claim_seconds(&self, hook: &Webhook) -> i64 {
        self.claim_seconds
            .unwrap_or_else(|| default_claim_seconds(hook))
    }

    async fn round_for(&self, i: usize, http: &reqwest::Client) -> Result<usize, StoreError> {
        let Some(hook) = self.hooks.get(i) else {
            return Ok(0);
        };
        let filter = WebhookFilter {
            events: hook.events.clone(),
            mailboxes: hook.mailboxes.clone(),
        };
        let (name, now) = (hook.name.clone(), self.clock.now_unix());
        let mut held = now + self.claim_seconds(hook);
        let due = self
            .blocking(move |st| {
                st.webhooks_enqueue(&name, &filter, ENQUEUE_PAGE, now)?;
                st.webhooks_claim_due(&name, now, held, DELIVERY_PAGE)
            })
            .await?;
        // The deliveries still claimed by this worker; one lost is never renewed again.
        let mut mine: Vec<i64> = due.iter().map(|d| d.id).collect();
        let mut attempts = 0;
        for (k, d) in due.iter().enumerate() {
            if k > 0 {
                let rest: Vec<i64> = due[k..]
                    .iter()
                    .map(|d| d.id)
                    .filter(|id| mine.contains(id))
                    .collect();
                let until = self.clock.now_unix() + self.claim_seconds(hook);
                mine = self
                    .blocking(move |st| st.webhooks_renew_claim(&rest, held, until))
                    .await?;
                held = until;
            }
            if !mine.contains(&d.id) {
                tracing::info!(webhook = %hook.name, delivery = d.id, "webhooks: another worker took this delivery over");
                continue;
            }
            let outcome = attempt(http, hook, d, self.clock.now_unix()).await;
            attempts += 1;
            self.record(hook, d, outcome).await?;
        }
        // Only the configured webhooks: deliveries of one removed from dpost.toml stay
        // listed (and retryable once it is back) but are nobody's backlog.
        let names: Vec<String> = self.hooks.iter().map(|h| h.name.clone()).collect();
        let backlog = self.blocking(move |st| st.webhooks_backlog(&names)).await?;
        self.metrics.webhook_backlog.set(backlog as i64);
        Ok(attempts)
    }

    async fn record(
        &self,
        hook: &Webhook,
        d: &Delivery,
        outcome: Attempt,
    ) -> Result<(), StoreError> {
        let (id, now) = (d.id, self.clock.now_unix());
        match outcome {
            Attempt::Delivered => {
                self.blocking(move |st| st.webhooks_delivered(id, now))
                    .await
            }
            Attempt::Failed(reason) => {
                self.metrics.webhook_failures.inc();
                let attempts = d.attempts + 1;
                let next = now + super::backoff::delay(self.seed, id, attempts);
                let give_up = next > d.window_start.saturating_add(hook.give_up_after_seconds);
                let reason = if give_up {
                    tracing::warn!(webhook = %hook.name, delivery = id, %reason, "webhooks: given up");
                    format!("given up after {attempts} attempt(s); the last: {reason}")
                } else {
                    tracing::info!(webhook = %hook.name, delivery = id, %reason, "webhooks: attempt failed");
                    reason
                };
                self.blocking(move |st| st.webhooks_attempt_failed(id, &reason, next, give_up))
                    .await
            }
        }
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        crate::store::blocking::run(self.store.clone(), "a webhook store task", f).await
    }
}

/// The body of delivery `d`: its event as the API shows it.
pub fn body(d: &Delivery) -> Vec<u8> {
    serde_json::to_vec(&EventBody::from(d.event.clone())).unwrap_or_default()
}

/// The `webhook-id` of `d`: the same on every attempt, so a receiver de-duplicates by it.
pub fn message_id(d: &Delivery) -> String {
    format!("evt_{}", d.event.seq)
}

/// Post `d` to `hook` once, signed at `now`.
pub async fn attempt(http: &reqwest::Client, hook: &Webhook, d: &Delivery, now: i64) -> Attempt {
    let body = body(d);
    let id = message_id(d);
    let signature = hook.secret.sign(&id, now, &body);
    let sent = http
        .post(hook.url.clone())
        .timeout(hook.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) => Attempt::Failed(format!(
            "the endpoint answered HTTP {}",
            r.status().as_u16()
        )),
        Err(e) if e.is_timeout() => {
            Attempt::Failed(format!("no answer within {} s", hook.timeout.as_secs()))
        }
        Err(e) if e.is_connect() => {
            Attempt::Failed("the endpoint cannot be reached (connection failed)".into())
        }
        Err(_) => Attempt::Failed("the request failed before an answer came".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OffsetClock;
    use crate::store::events::EventType;

    /// An endpoint nothing listens on (refused at once), a day's give-up time, and a clock
    /// the test moves: attempts back off, and past the give-up time the delivery is kept as
    /// failed with its reason.
    #[tokio::test]
    async fn a_dead_endpoint_is_retried_then_given_up_and_kept() {
        let dir = std::env::temp_dir().join(format!("dpost-worker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let clock = Arc::new(OffsetClock::new(0));
        let hook = Webhook {
            name: "dead".into(),
            url: reqwest::Url::parse("http://127.0.0.1:9/hook").unwrap(),
            secret: crate::webhooks::signature::Secret::parse(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            )
            .unwrap(),
            events: Some(vec![EventType::DigipostDocumentArchived]),
            mailboxes: None,
            timeout: Duration::from_secs(5),
            give_up_after_seconds: 24 * 3600,
        };
        let metrics = Arc::new(Metrics::default());
        let mut worker = Worker::start(
            &crate::store::Location::Sqlite(path.clone()),
            vec![hook],
            clock.clone(),
            metrics.clone(),
        )
        .unwrap();
        worker.seed = 1;
        let mut store = Store::open(&path).unwrap();
        let doc = crate::store::digipost::NewDocument {
            id: 1,
            metadata: serde_json::json!({}),
            content_type: None,
            content: b"x".to_vec(),
        };
        store
            .digipost_archive(5, &doc, &[], clock.now_unix())
            .unwrap();
        let http = reqwest::Client::new();
        assert_eq!(worker.round(&http).await.unwrap(), 1);
        assert_eq!(worker.round(&http).await.unwrap(), 0, "backing off");
        assert_eq!(metrics.webhook_backlog.get(), 1);
        let mut rounds = 1;
        while store
            .webhooks_deliveries(Some("failed"), 1)
            .unwrap()
            .is_empty()
        {
            clock.advance(super::super::backoff::MAX_SECONDS);
            rounds += worker.round(&http).await.unwrap();
            assert!(rounds < 100, "never given up");
        }
        let failed = store
            .webhooks_deliveries(Some("failed"), 1)
            .unwrap()
            .remove(0);
        assert!(failed.attempts >= 2);
        let reason = failed.last_error.unwrap();
        assert!(reason.starts_with("given up after"), "{reason}");
        assert!(reason.contains("cannot be reached"), "{reason}");
        assert_eq!(metrics.webhook_failures.get(), u64::from(failed.attempts));
        assert_eq!(metrics.webhook_backlog.get(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
