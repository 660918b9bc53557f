//! Sessions in signed cookies: the server keeps no session table, so a restart signs nobody
//! out and nothing grows with the number of sign-ins. A cookie holds the user's name, a
//! random nonce and an expiry, with an HMAC-SHA256 over them (ring) under a key only this
//! installation has; a cookie that was changed, forged or has expired is no session.
//!
//! The user's role is never in the cookie: it is looked up in the configuration on every
//! request, so a user removed or demoted in `dpost.toml` loses the power at the restart that
//! reads the change, whatever cookie they still hold.
//!
//! The key: `[console] session_secret_env` when the operator set one (several instances
//! behind one address share it), else `console-session.key` in the data folder, 32 random
//! bytes created with mode 0600 on first start.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use ring::hmac;

/// The session cookie's name. With TLS it carries the `__Host-` prefix, which browsers only
/// accept with `Secure`, `Path=/` and no `Domain`: no sibling host can plant one.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dpost-session"
    } else {
        "dpost-session"
    }
}

/// The cookie that holds a sign-in form's nonce (its CSRF token's seed) before anyone is
/// signed in: a form posted from elsewhere cannot sign a victim into an attacker's account.
pub fn signin_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dpost-signin"
    } else {
        "dpost-signin"
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or creating it failed.
    #[error("the console's session key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// It is too short to be a key dpost made.
    #[error(
        "the console's session key {0} holds fewer than 32 bytes; delete it and dpost makes a new one (everyone signs in again)"
    )]
    Short(String),
    /// No randomness.
    #[error("the system's random number generator failed")]
    Random,
}

/// The signing key: `secret` when configured, else the key file in `data_dir` (made now
/// when absent).
pub fn load_key(secret: Option<&[u8]>, data_dir: &Path) -> Result<hmac::Key, KeyError> {
    if let Some(s) = secret {
        return Ok(hmac::Key::new(hmac::HMAC_SHA256, s));
    }
    let path = data_dir.join("console-session.key");
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes)),
        Ok(_) => Err(KeyError::Short(path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| KeyError::Random)?;
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(mut f) => {
                    f.write_all(&bytes).map_err(io)?;
                    f.sync_all().map_err(io)?;
                    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_key(None, data_dir),
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

/// What a session cookie says, once its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's name (empty in a sign-in form's cookie).
    pub user: String,
    /// Random, per sign-in: the CSRF token is derived from it.
    pub nonce: String,
    /// Unix seconds after which it is no session.
    pub expires: i64,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Session {
    /// A new session for `user` until `expires`, with a fresh nonce.
    pub fn new(user: &str, expires: i64) -> Result<Session, KeyError> {
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| KeyError::Random)?;
        Ok(Session {
            user: user.to_owned(),
            nonce: B64.encode(nonce),
            expires,
        })
    }

    /// The cookie value: `v1.<payload>.<tag>`, both base64url.
    pub fn encode(&self, key: &hmac::Key) -> String {
        let payload = serde_json::json!({ "u": self.user, "n": self.nonce, "e": self.expires });
        let payload = B64.encode(payload.to_string());
        let tag = hmac::sign(key, format!("session.v1.{payload}").as_bytes());
        format!("v1.{payload}.{}", B64.encode(tag.as_ref()))
    }

    /// The session in `value`, when its tag verifies (in constant time) and it has not
    /// expired at `now`.
    pub fn decode(value: &str, key: &hmac::Key, now: i64) -> Option<Session> {
        let rest = value.strip_prefix("v1.")?;
        let (payload, tag) = rest.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        hmac::verify(key, format!("session.v1.{payload}").as_bytes(), &tag).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        let s = Session {
            user: json["u"].as_str()?.to_owned(),
            nonce: json["n"].as_str()?.to_owned(),
            expires: json["e"].as_i64()?,
        };
        (s.expires > now).then_some(s)
    }

    /// The CSRF token of the forms shown in this session: an HMAC of its nonce, so it
    /// cannot be made without the key and changes with every sign-in.
    pub fn csrf_token(&self, key: &hmac::Key) -> String {
        B64.encode(hmac::sign(key, format!("csrf.v1.{}", self.nonce).as_bytes()).as_ref())
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, key: &hmac::Key, presented: &str) -> bool {
        match B64.decode(presented) {
            Ok(tag) => {
                hmac::verify(key, format!("csrf.v1.{}", self.nonce).as_bytes(), &tag).is_ok()
            }
            Err(_) => false,
        }
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure with TLS; `max_age`
/// seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[b; 32])
    }

    #[test]
    fn a_cookie_round_trips_and_nothing_changed_or_expired_is_a_session() {
        let s = Session::new("ops", 1000).unwrap();
        let v = s.encode(&key(1));
        assert_eq!(Session::decode(&v, &key(1), 999), Some(s.clone()));
        assert_eq!(Session::decode(&v, &key(1), 1000), None, "expired");
        assert_eq!(Session::decode(&v, &key(2), 0), None, "another key");
        let (head, tag) = v.rsplit_once('.').unwrap();
        let forged = Session {
            user: "admin".into(),
            ..s.clone()
        }
        .encode(&key(2));
        let forged_payload = forged.split('.').nth(1).unwrap();
        assert_eq!(
            Session::decode(&format!("v1.{forged_payload}.{tag}"), &key(1), 0),
            None
        );
        assert_eq!(Session::decode(&format!("{head}.AAAA"), &key(1), 0), None);
        assert_eq!(Session::decode("garbage", &key(1), 0), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let a = Session::new("ops", 10).unwrap();
        let b = Session::new("ops", 10).unwrap();
        let t = a.csrf_token(&key(1));
        assert!(a.csrf_ok(&key(1), &t));
        assert!(!b.csrf_ok(&key(1), &t));
        assert!(!a.csrf_ok(&key(2), &t));
        assert!(!a.csrf_ok(&key(1), ""));
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        let dir = std::env::temp_dir().join(format!("dpost-console-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let k1 = load_key(None, &dir).unwrap();
        let s = Session::new("a", 10).unwrap().encode(&k1);
        let k2 = load_key(None, &dir).unwrap();
        assert!(
            Session::decode(&s, &k2, 0).is_some(),
            "the same key after a restart"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("console-session.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
