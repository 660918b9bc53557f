//! Signing in: the password checked against the user's argon2id hash, the same work done
//! for a name that does not exist (so the answer's timing does not tell which names do),
//! one generic message for every failure, and failures slowed and then refused per name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

use crate::config::console::ConsoleUser;

/// Failed sign-ins allowed per user name in [`WINDOW_SECONDS`] before that name is refused
/// until the window ends.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in.
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// How long a failed sign-in is held before it is answered.
pub const FAILURE_DELAY: Duration = Duration::from_millis(400);
/// Names whose failures are remembered at once (an attacker trying random names must not
/// grow the table without end).
const MAX_TRACKED: usize = 10_000;

/// A new argon2id hash of `password` (the argon2 crate's defaults: OWASP's minimum, 19 MiB
/// and 2 passes), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A hash no password matches in practice, checked when the name is unknown so that an
/// unknown name costs as much as a known one.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("dpost decoy: no user has this").unwrap_or_default())
}

/// The user `name` when `password` is theirs. Blocking: argon2 takes tens of milliseconds.
pub fn verify<'a>(users: &'a [ConsoleUser], name: &str, password: &str) -> Option<&'a ConsoleUser> {
    let user = users.iter().find(|u| u.name == name);
    let hash: &str = match user {
        Some(u) => &u.password_hash,
        None => decoy(),
    };
    let ok = PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    user.filter(|_| ok)
}

/// Failed sign-ins per name.
#[derive(Debug, Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Limiter {
    /// Whether `name` may try now.
    pub fn allowed(&self, name: &str, now: i64) -> bool {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(name) {
            Some((n, start)) if now - start < WINDOW_SECONDS => *n < MAX_FAILURES,
            _ => true,
        }
    }

    /// Count a failure for `name`.
    pub fn failed(&self, name: &str, now: i64) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, start)| now - *start < WINDOW_SECONDS);
        }
        if map.len() >= MAX_TRACKED {
            // Still full of fresh failures: an attack on many names. Keep counting the ones
            // known; a new name is slowed by the delay alone.
            if let Some(e) = map.get_mut(name) {
                e.0 += 1;
            }
            return;
        }
        let e = map.entry(name.to_owned()).or_insert((0, now));
        if now - e.1 >= WINDOW_SECONDS {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forget `name`'s failures (it signed in).
    pub fn succeeded(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::console::Role;

    #[test]
    fn only_the_right_password_of_a_known_user_signs_in() {
        let users = vec![ConsoleUser {
            name: "ops".into(),
            role: Role::Operator,
            password_hash: hash_password("correct horse").unwrap(),
        }];
        assert!(users[0].password_hash.starts_with("$argon2id$"));
        assert_eq!(
            verify(&users, "ops", "correct horse").map(|u| u.role),
            Some(Role::Operator)
        );
        assert!(verify(&users, "ops", "wrong").is_none());
        assert!(verify(&users, "nobody", "correct horse").is_none());
    }

    #[test]
    fn a_name_is_refused_after_five_failures_until_the_window_ends() {
        let l = Limiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.allowed("ops", 100));
            l.failed("ops", 100);
        }
        assert!(!l.allowed("ops", 100));
        assert!(l.allowed("other", 100));
        assert!(l.allowed("ops", 100 + WINDOW_SECONDS));
        l.succeeded("ops");
        assert!(l.allowed("ops", 101));
    }
}
