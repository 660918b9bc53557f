//! Bearer tokens of the API's clients (`[[api.clients]]`).
//!
//! A token is 256 random bits (`dpost_` and 43 base64url characters); dpost keeps only its
//! SHA-256. A slow password hash (argon2, bcrypt) exists to make guessing a *low-entropy*
//! secret from its stolen hash expensive; nobody guesses 2^256 values however cheap each
//! guess is, so a plain SHA-256 loses nothing and costs microseconds on every request
//! instead of the tens of milliseconds (and megabytes) an argon2 check would take.
//!
//! The presented token's hash is compared with every client's in constant time, and all of
//! them are compared, so the answer's timing says nothing about how close a guess was or
//! which client it came near.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::ApiState;
use super::problem::Problem;
use crate::config::api::{ApiClient, Scope};

/// What every token starts with, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "dpost_";

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed")]
pub struct RandomError;

/// A fresh token and its SHA-256 (hex), the value `token_sha256` holds.
pub fn new_token() -> Result<(String, String), RandomError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hex(&Sha256::digest(token.as_bytes()));
    Ok((token, hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The client whose token is `presented`, if any.
pub fn client_for<'a>(clients: &'a [ApiClient], presented: &str) -> Option<&'a ApiClient> {
    let hash = Sha256::digest(presented.as_bytes());
    let mut found = None;
    for c in clients {
        if dpost_guest::ngdp::authorization::constant_time_eq(&hash, &c.token_sha256) {
            found = Some(c);
        }
    }
    found
}

/// The API client a request comes from, authenticated. Extracting it answers 401 for a
/// missing, malformed or unknown token.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiClient);

impl Caller {
    /// Go on only with `scope`; else 403.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.0.may(scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(
                format!(
                    "the client {:?} does not have the scope {}",
                    self.0.name,
                    scope.name()
                ),
                scope.name(),
            ))
        }
    }

    /// The name recorded for what it does.
    pub fn actor(&self) -> String {
        format!("api:{}", self.0.name)
    }

    /// The mailboxes it may see, `None` for all.
    pub fn visible(&self) -> Option<&[String]> {
        self.0.mailboxes.as_deref()
    }
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path().to_owned();
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(Problem::unauthorized(
                "send the client's token as `Authorization: Bearer <token>`",
            )
            .on(path));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(token) = token else {
            return Err(
                Problem::unauthorized("the Authorization header is not `Bearer <token>`").on(path),
            );
        };
        match client_for(&state.clients.get(), token) {
            Some(c) => Ok(Caller(c.clone())),
            None => {
                tracing::info!(%path, "API request with an unknown token");
                Err(
                    Problem::unauthorized("the token is not one of a configured API client")
                        .on(path),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, token: &str) -> ApiClient {
        let mut token_sha256 = [0u8; 32];
        token_sha256.copy_from_slice(&Sha256::digest(token.as_bytes()));
        ApiClient {
            name: name.into(),
            token_sha256,
            scopes: vec![Scope::MessagesRead],
            mailboxes: None,
        }
    }

    #[test]
    fn a_token_is_256_random_bits_and_its_hash_finds_its_client() {
        let (a, hash) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(hash.len(), 64);
        let clients = [client("one", "x"), client("two", &a)];
        assert_eq!(client_for(&clients, &a).unwrap().name, "two");
        assert!(client_for(&clients, &b).is_none());
        assert!(client_for(&clients, "").is_none());
    }
}
