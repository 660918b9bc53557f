//! What `dpost serve` refuses to start with, and `dpost config check` reports: a setting that
//! would let the service run while its business receipts cannot reach NgDP, or values the
//! portal would be given wrong.
//!
//! - Every system of the served environment needs its API token and its FOCES3/VOCES3
//!   function certificate (readable, and decryptable with its password): NgDP takes business
//!   receipts only with `Authorization: Basic base64(systemId:apiToken)` over mutual TLS
//!   (NgDP OpenAPI document 1.68.0, CreateReceipt; `docs/ngdp-wire.md`). Without them every
//!   receipt is refused, and NgDP deactivates a system that fails for seven days.
//! - `[ngdp.<env>] simulator = true` says `api_base` is a simulator (`dpost sim ngdp`, a test
//!   double): then credentials may be absent. It is refused with NgDP's own API base and in
//!   production, where it would send receipts without credentials to NgDP.
//! - `serve --environment production` needs at least one production system.
//! - `[serve] public_url` is an https URL (NgDP pushes only to HTTPS endpoints) and
//!   `[serve] public_ips` are IP addresses (the portal asks for addresses).

use super::ConfigError;
use super::ConfigFile;
use super::ngdp::{NgdpSettings, PRODUCTION_API_BASE, TEST_API_BASE};
use crate::keystore::PrivateKey;

/// Why `dpost serve` cannot run `ngdp`'s environment with this file; empty when it can.
pub fn serve_problems(file: &ConfigFile, ngdp: &NgdpSettings) -> Vec<ConfigError> {
    let env = ngdp.environment.as_str();
    let table = format!("ngdp.{env}");
    let systems = format!("{table}.systems");
    let mut problems = Vec::new();
    if env == "production" && ngdp.systems.is_empty() {
        problems.push(file.error(
            &table,
            "systems",
            "no production system is configured: add a [[ngdp.production.systems]] entry (id, protocol, authorization_env, api_token_env, certificate, certificate_password_env) from the production portal",
        ));
    }
    let official = ngdp.api_base == TEST_API_BASE || ngdp.api_base == PRODUCTION_API_BASE;
    if ngdp.simulator && (official || env == "production") {
        problems.push(file.error(
            &table,
            "simulator",
            format!(
                "simulator = true is only for a simulator's api_base, not {} in {env}: remove it and give each system api_token_env and certificate",
                ngdp.api_base
            ),
        ));
    }
    for (i, s) in ngdp.systems.iter().enumerate() {
        if !ngdp.simulator && s.api_token.is_none() {
            problems.push(file.error_in_array(
                &systems,
                i,
                "api_token_env",
                format!(
                    "system {} has no API token, so NgDP would refuse its business receipts: set api_token_env (or api_token_file) to the token from the portal, or point [{table}] api_base at a simulator with simulator = true",
                    s.id
                ),
            ));
        }
        match &s.certificate {
            None if !ngdp.simulator => problems.push(file.error_in_array(
                &systems,
                i,
                "certificate",
                format!(
                    "system {} has no function certificate, so NgDP would refuse its business receipts: set certificate (.p12/.pfx) and certificate_password_env, or point [{table}] api_base at a simulator with simulator = true",
                    s.id
                ),
            )),
            None => {}
            Some((path, password)) => {
                if let Err(e) = PrivateKey::load(path, password) {
                    problems.push(file.error_in_array(&systems, i, "certificate", e.to_string()));
                }
            }
        }
    }
    problems
}

/// Problems with `[serve] public_url` and `public_ips`, the values the portal is given.
pub fn public_problems(file: &ConfigFile) -> Vec<ConfigError> {
    let serve = &file.config.serve;
    let mut problems = Vec::new();
    if let Some(url) = &serve.public_url {
        problems.extend(public_url_problem(url).map(|m| file.error("serve", "public_url", m)));
    }
    for ip in &serve.public_ips {
        if ip.trim().parse::<std::net::IpAddr>().is_err() {
            problems.push(file.error(
                "serve",
                "public_ips",
                format!("{ip:?} is not an IP address (like 203.0.113.10 or 2001:db8::10)"),
            ));
        }
    }
    problems
}

/// Why `url` cannot be the public base URL NgDP reaches dpost at, if it cannot.
pub fn public_url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Err(e) => Some(format!("{url:?} is not a URL ({e})")),
        Ok(u) if u.scheme() != "https" => Some(format!(
            "{url:?} is not an https URL: NgDP pushes only to HTTPS endpoints"
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            Some(format!("{url:?} has no host name"))
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> ConfigFile {
        ConfigFile::parse(PathBuf::from("dpost.toml"), text.to_owned()).unwrap()
    }

    const SYSTEM: &str = "[[ngdp.test.systems]]\nid = \"7c4c7d2e-0b1a-4c5e-9f00-123456789abc\"\nprotocol = \"pull\"\n";

    #[test]
    fn a_system_without_credentials_is_refused_unless_at_a_simulator() {
        let f = parse(SYSTEM);
        let p = serve_problems(&f, &f.ngdp(None).unwrap());
        let keys: Vec<_> = p.iter().filter_map(|e| e.key.clone()).collect();
        assert_eq!(
            keys,
            [
                "ngdp.test.systems[0].api_token_env",
                "ngdp.test.systems[0].certificate"
            ]
        );
        let f = parse(&format!(
            "[ngdp.test]\napi_base = \"http://127.0.0.1:9/apis/v1\"\nsimulator = true\n{SYSTEM}"
        ));
        assert!(serve_problems(&f, &f.ngdp(None).unwrap()).is_empty());
        // Not with NgDP's own API.
        let f = parse(&format!("[ngdp.test]\nsimulator = true\n{SYSTEM}"));
        let p = serve_problems(&f, &f.ngdp(None).unwrap());
        assert_eq!(p[0].key.as_deref(), Some("ngdp.test.simulator"));
        assert_eq!(p[0].line, Some(2));
    }

    #[test]
    fn production_without_systems_is_refused() {
        let f = parse("");
        let p = serve_problems(&f, &f.ngdp(Some("production")).unwrap());
        assert_eq!(p.len(), 1);
        assert!(
            p[0].to_string().contains("[[ngdp.production.systems]]"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn public_values_are_checked() {
        let f = parse(
            "[serve]\npublic_url = \"http://post.example.dk\"\npublic_ips = [\"203.0.113.10\", \"post.example.dk\"]\n",
        );
        let p = public_problems(&f);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].line, Some(2));
        assert_eq!(p[1].line, Some(3));
        assert!(
            p[1].to_string()
                .contains("\"post.example.dk\" is not an IP address")
        );
        assert!(public_url_problem("https://post.example.dk/").is_none());
    }
}
