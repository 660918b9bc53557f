//! `[[api.webhooks]]`: where dpost posts events (`store::events`) as they happen.
//!
//! ```toml
//! [[api.webhooks]]
//! url = "https://casework.example.dk/dpost/events"   # https; http only to a loopback address
//! secret_env = "DPOST_WEBHOOK_SECRET"                 # holds whsec_<base64>, as Standard Webhooks
//! events = ["message.received", "message.invalid"]    # optional: every type when absent
//! mailboxes = ["daycare"]                              # optional: only these mailboxes' events
//! # name = "casework"              # optional: what deliveries are listed under (default: the url)
//! # timeout_seconds = 10           # one delivery's time limit
//! # give_up_after_hours = 72       # retried with backoff until then, then kept as failed
//! ```
//!
//! The secret is read from the environment when `dpost serve` starts, never written in the
//! file: the file is often kept in version control, the secret must not be.

use serde::Deserialize;

use super::{ConfigError, ConfigFile};
use crate::store::events::EventType;
use crate::webhooks::signature::Secret;

/// A delivery's time limit when the file says nothing.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
/// How long a delivery is retried when the file says nothing: three days, so an endpoint
/// down over a weekend still gets everything.
pub const DEFAULT_GIVE_UP_AFTER_HOURS: u64 = 72;

/// One `[[api.webhooks]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTable {
    /// What its deliveries are listed under; the url when absent.
    pub name: Option<String>,
    /// Where to post.
    pub url: String,
    /// The environment variable holding the secret (`whsec_<base64>`).
    pub secret_env: String,
    /// Only these event types; all when absent.
    pub events: Option<Vec<String>>,
    /// Only events of these mailboxes; all when absent.
    pub mailboxes: Option<Vec<String>>,
    /// One delivery's time limit, seconds.
    pub timeout_seconds: Option<u64>,
    /// Hours after its first attempt when a delivery is given up (kept, marked failed).
    pub give_up_after_hours: Option<u64>,
}

/// A webhook, resolved.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// What its deliveries are listed under (and its cursor in the store is kept as).
    pub name: String,
    /// Where to post.
    pub url: reqwest::Url,
    /// The signing key.
    pub secret: Secret,
    /// Only these types (`None`: all).
    pub events: Option<Vec<EventType>>,
    /// Only these mailboxes (`None`: all; events of no mailbox only go to webhooks without
    /// a mailbox list, as for API clients).
    pub mailboxes: Option<Vec<String>>,
    /// One delivery's time limit.
    pub timeout: std::time::Duration,
    /// Seconds after its first attempt when a delivery is given up.
    pub give_up_after_seconds: i64,
}

impl ConfigFile {
    /// Resolve `[[api.webhooks]]`, reading each secret from the environment through `env`;
    /// the first problem.
    pub fn webhooks(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Webhook>, ConfigError> {
        let (hooks, mut problems) = self.webhooks_checked(env);
        match problems.is_empty() {
            true => Ok(hooks),
            false => Err(problems.remove(0)),
        }
    }

    /// Every problem of `[[api.webhooks]]` (for `dpost config check`), with what resolved.
    pub fn webhooks_checked(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> (Vec<Webhook>, Vec<ConfigError>) {
        let mut hooks: Vec<Webhook> = Vec::new();
        let mut problems = Vec::new();
        for (i, w) in self.config.api.webhooks.iter().enumerate() {
            let at =
                |key: &str, message: String| self.error_in_array("api.webhooks", i, key, message);
            let before = problems.len();
            let name = w.name.clone().unwrap_or_else(|| w.url.clone());
            if name.trim().is_empty() {
                problems.push(at("name", "a webhook needs a url (or a name)".into()));
            } else if hooks.iter().any(|h| h.name == name) {
                problems.push(at(
                    "name",
                    format!("a second webhook is named {name:?}; give each its own name"),
                ));
            }
            let url = match reqwest::Url::parse(&w.url) {
                Ok(u) if u.scheme() == "https" => Some(u),
                Ok(u) if u.scheme() == "http" && is_loopback(&u) => Some(u),
                Ok(_) => {
                    problems.push(at(
                        "url",
                        format!(
                            "{:?} is not https: events must not cross a network in the clear (http is taken only for a loopback address, for tests)",
                            w.url
                        ),
                    ));
                    None
                }
                Err(e) => {
                    problems.push(at("url", format!("{:?} is not a URL: {e}", w.url)));
                    None
                }
            };
            let secret = match env(&w.secret_env) {
                None => {
                    problems.push(at(
                        "secret_env",
                        format!(
                            "the environment variable {} is not set; set it to the secret, whsec_ followed by base64",
                            w.secret_env
                        ),
                    ));
                    None
                }
                Some(v) => match Secret::parse(&v) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        problems.push(at(
                            "secret_env",
                            format!("the environment variable {}: {e}", w.secret_env),
                        ));
                        None
                    }
                },
            };
            let mut events = None;
            if let Some(names) = &w.events {
                let mut types = Vec::with_capacity(names.len());
                for n in names {
                    match EventType::parse(n) {
                        Some(t) => types.push(t),
                        None => problems.push(at(
                            "events",
                            format!(
                                "{n:?} is not an event type; types: {}",
                                EventType::ALL.map(EventType::name).join(", ")
                            ),
                        )),
                    }
                }
                events = Some(types);
            }
            if w.timeout_seconds == Some(0) {
                problems.push(at("timeout_seconds", "must be at least 1".into()));
            }
            if w.give_up_after_hours == Some(0) {
                problems.push(at("give_up_after_hours", "must be at least 1".into()));
            }
            if let (true, Some(url), Some(secret)) = (problems.len() == before, url, secret) {
                hooks.push(Webhook {
                    name,
                    url,
                    secret,
                    events,
                    mailboxes: w.mailboxes.clone(),
                    timeout: std::time::Duration::from_secs(
                        w.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
                    ),
                    give_up_after_seconds: (w
                        .give_up_after_hours
                        .unwrap_or(DEFAULT_GIVE_UP_AFTER_HOURS)
                        .min(24 * 365)
                        * 3600) as i64,
                });
            }
        }
        (hooks, problems)
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn check(text: &str, var: Option<&str>) -> (Vec<Webhook>, Vec<ConfigError>) {
        let file = ConfigFile::parse("dpost.toml".into(), text.into()).unwrap();
        file.webhooks_checked(|n| (n == "HOOK").then(|| var.map(str::to_owned)).flatten())
    }

    #[test]
    fn a_webhook_is_read_with_its_defaults() {
        let (hooks, problems) = check(
            "[[api.webhooks]]\nurl = \"https://x.example/h\"\nsecret_env = \"HOOK\"\n",
            Some(SECRET),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(hooks[0].name, "https://x.example/h");
        assert!(hooks[0].events.is_none());
        assert_eq!(hooks[0].give_up_after_seconds, 72 * 3600);
        let (hooks, problems) = check(
            "[[api.webhooks]]\nurl = \"http://127.0.0.1:9/h\"\nsecret_env = \"HOOK\"\nevents = [\"message.received\"]\n",
            Some(SECRET),
        );
        assert!(
            problems.is_empty(),
            "loopback http is for tests: {problems:?}"
        );
        assert_eq!(hooks[0].events, Some(vec![EventType::MessageReceived]));
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        let text = "[[api.webhooks]]\nurl = \"http://casework.example/h\"\nsecret_env = \"HOOK\"\nevents = [\"message.arrived\"]\n";
        let (hooks, problems) = check(text, None);
        assert!(hooks.is_empty());
        let keys: Vec<_> = problems.iter().map(|p| p.key.clone().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "api.webhooks[0].url",
                "api.webhooks[0].secret_env",
                "api.webhooks[0].events"
            ]
        );
        assert_eq!(problems[0].line, Some(2));
        let (_, problems) = check(text, Some("not-a-secret"));
        assert!(
            problems[1].message.contains("whsec_"),
            "{}",
            problems[1].message
        );
    }
}
