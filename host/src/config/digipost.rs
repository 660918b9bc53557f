//! `[digipost]`: how to reach the Digipost API and sign for it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, ConfigFile};
use crate::keystore::PasswordSource;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.digipost.no";
/// Seconds one request may take, connection to last byte, when the file says nothing.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 60;
/// Extra attempts for a failed idempotent request when the file says nothing.
pub const DEFAULT_RETRIES: u32 = 3;

/// The `[digipost]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigipostTable {
    /// The API's base URL, e.g. `https://api.test.digipost.no`.
    pub base_url: Option<String>,
    /// The broker id (`X-Digipost-UserId`).
    pub broker_id: Option<String>,
    /// The broker's private key: PKCS#12 or PEM.
    pub key: Option<PathBuf>,
    /// The environment variable holding the key's password.
    pub password_env: Option<String>,
    /// The file holding the key's password.
    pub password_file: Option<PathBuf>,
    /// The sender whose inbox commands read when `--sender` is not given.
    pub sender_id: Option<String>,
    /// Seconds one request may take.
    pub request_timeout_seconds: Option<u64>,
    /// Extra attempts for idempotent requests that fail on the network or with a 5xx.
    pub retries: Option<u32>,
}

/// What the command line says; each `Some` overrides the file.
#[derive(Debug, Clone, Default)]
pub struct DigipostOverrides {
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--broker-id`.
    pub broker_id: Option<String>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// `--password-env`.
    pub password_env: Option<String>,
    /// `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `--sender`.
    pub sender_id: Option<String>,
}

/// Everything a Digipost command needs, flags over file over defaults.
#[derive(Debug, Clone)]
pub struct DigipostSettings {
    /// The API's base URL, without a trailing `/`.
    pub base_url: String,
    /// The broker id.
    pub broker_id: String,
    /// The key file.
    pub key: PathBuf,
    /// Where the key's password comes from.
    pub password: PasswordSource,
    /// The sender id, when one was given anywhere.
    pub sender_id: Option<String>,
    /// Time limit per request.
    pub request_timeout: Duration,
    /// Extra attempts for idempotent requests.
    pub retries: u32,
}

impl DigipostSettings {
    /// Merge `flags` over `file`'s `[digipost]` table. The broker id and key are required
    /// from one or the other; the errors say where they can be given.
    pub fn resolve(file: &ConfigFile, flags: DigipostOverrides) -> Result<Self, ConfigError> {
        let table = &file.config.digipost;
        if table.password_env.is_some() && table.password_file.is_some() {
            return Err(file.error(
                "digipost",
                "password_file",
                "give password_env or password_file, not both",
            ));
        }
        let missing = |key: &str, flag: &str| {
            let mut e = file.error(
                "digipost",
                key,
                format!("not set: give --{flag} or set {key} in [digipost]"),
            );
            e.line = None;
            e
        };
        let base_url = flags
            .base_url
            .or_else(|| table.base_url.clone())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let broker_id = flags
            .broker_id
            .or_else(|| table.broker_id.clone())
            .ok_or_else(|| missing("broker_id", "broker-id"))?;
        let key = match flags.key {
            Some(k) => k,
            None => file.resolve_path(table.key.as_deref().ok_or_else(|| missing("key", "key"))?),
        };
        // A password flag replaces the file's password source whole, whichever kind it is.
        let password = match (flags.password_env, flags.password_file) {
            (Some(var), _) => PasswordSource::Env(var),
            (None, Some(f)) => PasswordSource::File(f),
            (None, None) => match (&table.password_env, &table.password_file) {
                (Some(var), _) => PasswordSource::Env(var.clone()),
                (None, Some(f)) => PasswordSource::File(file.resolve_path(f)),
                (None, None) => PasswordSource::None,
            },
        };
        let timeout = table
            .request_timeout_seconds
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
        if timeout == 0 {
            return Err(file.error("digipost", "request_timeout_seconds", "must be at least 1"));
        }
        Ok(DigipostSettings {
            base_url,
            broker_id,
            key,
            password,
            sender_id: flags.sender_id.or_else(|| table.sender_id.clone()),
            request_timeout: Duration::from_secs(timeout),
            retries: table.retries.unwrap_or(DEFAULT_RETRIES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile {
        ConfigFile::parse(PathBuf::from("/etc/dpost/dpost.toml"), text.to_owned()).unwrap()
    }

    #[test]
    fn flags_override_the_file_and_paths_follow_the_file() {
        let f = file(
            "[digipost]\nbroker_id = \"1\"\nkey = \"k.p12\"\npassword_env = \"PW\"\nretries = 5\n",
        );
        let s = DigipostSettings::resolve(&f, DigipostOverrides::default()).unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.key, PathBuf::from("/etc/dpost/k.p12"));
        assert_eq!(s.password, PasswordSource::Env("PW".into()));
        assert_eq!(s.retries, 5);
        let flags = DigipostOverrides {
            broker_id: Some("2".into()),
            base_url: Some("http://127.0.0.1:1/".into()),
            password_file: Some("pw".into()),
            ..Default::default()
        };
        let s = DigipostSettings::resolve(&f, flags).unwrap();
        assert_eq!(
            (s.broker_id.as_str(), s.base_url.as_str()),
            ("2", "http://127.0.0.1:1")
        );
        assert_eq!(s.password, PasswordSource::File("pw".into()));
    }

    #[test]
    fn conflicts_and_missing_values_are_named() {
        let f = file(
            "[digipost]\nbroker_id = \"1\"\nkey = \"k\"\npassword_env = \"A\"\npassword_file = \"b\"\n",
        );
        let e = DigipostSettings::resolve(&f, DigipostOverrides::default()).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("digipost.password_file"))
        );
        let e = DigipostSettings::resolve(&file(""), DigipostOverrides::default()).unwrap_err();
        assert!(e.to_string().contains("--broker-id"), "{e}");
    }
}
