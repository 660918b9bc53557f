//! HTTP clients for NgDP's API, one per receiving system: mutual TLS with the system's
//! function certificate, and `Authorization: Basic base64(systemId:apiToken)` on every call.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::ngdp::{NgdpSettings, Secret, System};
use crate::keystore::PrivateKey;

/// Time limit for one call to NgDP.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for one system.
#[derive(Clone, Debug)]
pub struct NgdpClient {
    /// The HTTP client (with the system's TLS identity when it has a certificate).
    pub http: reqwest::Client,
    /// NgDP's API base, without a trailing `/`.
    pub api_base: String,
    system_id: String,
    /// Printed as `Secret(***)` by `Debug`, so a logged client never shows it.
    api_token: Option<Secret>,
}

impl NgdpClient {
    /// A client for `system` in `settings`' environment.
    pub fn new(settings: &NgdpSettings, system: &System) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some((path, password)) = &system.certificate {
            let key = PrivateKey::load(path, password)
                .with_context(|| format!("the function certificate of system {}", system.id))?;
            let identity = reqwest::Identity::from_pem(key.identity_pem().as_bytes())
                .with_context(|| {
                    format!(
                        "{} cannot be used for TLS client authentication",
                        path.display()
                    )
                })?;
            builder = builder.identity(identity);
        }
        if let Some(ca) = &settings.api_ca {
            for cert in extra_roots(ca)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(NgdpClient {
            http: builder.build().context("setting up the HTTP client")?,
            api_base: settings.api_base.clone(),
            system_id: system.id.clone(),
            api_token: system.api_token.clone(),
        })
    }

    /// A request to `path` (relative to the API base) with the system's credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/{}", self.api_base, path.trim_start_matches('/'));
        let r = self.http.request(method, url);
        match &self.api_token {
            Some(token) => r.basic_auth(&self.system_id, Some(token.expose())),
            None => r,
        }
    }
}

/// The CA certificates in a PEM file (`api_ca_file`), trusted besides the public roots.
pub fn extra_roots(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the API CA file {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("{} holds no usable PEM certificate", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Clients for every system of an environment, by system id.
pub fn clients(settings: &NgdpSettings) -> anyhow::Result<BTreeMap<String, NgdpClient>> {
    settings
        .systems
        .iter()
        .map(|s| Ok((s.id.clone(), NgdpClient::new(settings, s)?)))
        .collect()
}
