//! What to type into the Administrativ Adgang portal when registering a sender/receiver
//! system: the endpoints (push systems), the protocol and the server's public IP addresses,
//! from the configuration, so nothing is retyped by hand (a mistyped endpoint is one of the
//! commonest failed go-lives).

use serde::Serialize;

use crate::config::ConfigFile;
use crate::config::ngdp::Protocol;
use crate::doctor::environment_table;

/// The message endpoint of a push system.
pub fn message_endpoint(base: &str, system_id: &str) -> String {
    format!(
        "{}/api/MeMoV1/memos/?system-uuid={system_id}",
        base.trim_end_matches('/')
    )
}

/// The receipt endpoint of a push system.
pub fn receipt_endpoint(base: &str, system_id: &str) -> String {
    format!(
        "{}/api/MeMoV1/{system_id}/receipt",
        base.trim_end_matches('/')
    )
}

/// One system's values.
#[derive(Debug, Clone, Serialize)]
pub struct SystemValues {
    /// The system id.
    pub system_id: String,
    /// `REST_PUSH` or `REST_PULL`.
    pub protocol: &'static str,
    /// The receipt format to register: always `MEMO`, the JSON receipts dpost reads
    /// (`MailSystem.receiptFormat` is `MEMO`, or the legacy `DP`/`DP2`: NgDP OpenAPI document
    /// 1.68.0; `docs/ngdp-wire.md`). A system registered with `DP` or `DP2` would get receipts
    /// dpost cannot read.
    pub receipt_format: &'static str,
    /// Push systems: the message endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_endpoint: Option<String>,
    /// Push systems: the receipt endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_endpoint: Option<String>,
}

/// The receipt format every system must be registered with.
pub const RECEIPT_FORMAT: &str = "MEMO";

/// Everything for one environment.
#[derive(Debug, Clone, Serialize)]
pub struct PortalValues {
    /// `test` or `production`.
    pub environment: String,
    /// The public base URL; `None` when the configuration names none (the endpoints then
    /// show `<base>`).
    pub base: Option<String>,
    /// The systems.
    pub systems: Vec<SystemValues>,
    /// The server's public IP addresses, from `[serve] public_ips`.
    pub public_ips: Vec<String>,
}

/// The values for `environment`; `base` overrides `[serve] public_url`.
pub fn values(file: &ConfigFile, environment: &str, base: Option<&str>) -> PortalValues {
    let base = base
        .map(str::to_owned)
        .or_else(|| file.config.serve.public_url.clone())
        .map(|b| b.trim_end_matches('/').to_owned());
    let shown = base.clone().unwrap_or_else(|| "<base>".into());
    let systems = environment_table(file, environment)
        .systems
        .iter()
        .map(|s| {
            let id = s.id.trim().to_ascii_lowercase();
            match s.protocol {
                Protocol::Push => SystemValues {
                    message_endpoint: Some(message_endpoint(&shown, &id)),
                    receipt_endpoint: Some(receipt_endpoint(&shown, &id)),
                    system_id: id,
                    protocol: "REST_PUSH",
                    receipt_format: RECEIPT_FORMAT,
                },
                Protocol::Pull => SystemValues {
                    system_id: id,
                    protocol: "REST_PULL",
                    receipt_format: RECEIPT_FORMAT,
                    message_endpoint: None,
                    receipt_endpoint: None,
                },
            }
        })
        .collect();
    PortalValues {
        environment: environment.to_owned(),
        base,
        systems,
        public_ips: file.config.serve.public_ips.clone(),
    }
}

impl PortalValues {
    /// For people: one block per system, then the IP addresses, then what is missing.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Administrativ Adgang: the {} environment's sender/receiver system(s)",
            self.environment
        );
        if self.systems.is_empty() {
            let _ = writeln!(
                out,
                "\nno system in [ngdp.{}]: create one in the portal and add it as [[ngdp.{}.systems]]",
                self.environment, self.environment
            );
        }
        for s in &self.systems {
            let _ = writeln!(out, "\nSystem {}", s.system_id);
            let _ = writeln!(out, "  Protocol:          {}", s.protocol);
            let _ = writeln!(
                out,
                "  Receipt format:    {} (JSON receipts; not the legacy DP or DP2, which dpost cannot read)",
                s.receipt_format
            );
            match (&s.message_endpoint, &s.receipt_endpoint) {
                (Some(m), Some(r)) => {
                    let _ = writeln!(out, "  Message endpoint:  {m}");
                    let _ = writeln!(out, "  Receipt endpoint:  {r}");
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "  Endpoints:         none (REST_PULL: dpost fetches messages and receipts)"
                    );
                }
            }
        }
        let _ = writeln!(out);
        if self.public_ips.is_empty() {
            let _ = writeln!(
                out,
                "IP addresses:      not in the configuration: list the server's public addresses in [serve] public_ips (ask operations, or look them up from the server)"
            );
        } else {
            let _ = writeln!(out, "IP addresses:      {}", self.public_ips.join(", "));
        }
        if self.base.is_none() && self.systems.iter().any(|s| s.protocol == "REST_PUSH") {
            let _ = writeln!(
                out,
                "\n<base> is the public HTTPS address NgDP reaches dpost serve at: set [serve] public_url (or give --public-url) to fill it in"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_the_guide_declares_them() {
        let id = "7c4c7d2e-0b1a-4c5e-9f00-123456789abc";
        assert_eq!(
            message_endpoint("https://post.example.dk/", id),
            "https://post.example.dk/api/MeMoV1/memos/?system-uuid=7c4c7d2e-0b1a-4c5e-9f00-123456789abc"
        );
        assert_eq!(
            receipt_endpoint("https://post.example.dk", id),
            "https://post.example.dk/api/MeMoV1/7c4c7d2e-0b1a-4c5e-9f00-123456789abc/receipt"
        );
    }
}
