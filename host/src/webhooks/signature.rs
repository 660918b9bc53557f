//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the secret's decoded bytes
//! (the secret is written `whsec_<base64>`).
//!
//! Why ring's HMAC and not the `hmac` crate: ring is already what dpost uses for TLS and
//! randomness, and the `hmac` release in the tree (0.13) is built on a newer `sha2` than the
//! workspace's, so it would bring a second SHA-2 implementation into the binary for one
//! function. The end-to-end test checks these signatures with the `hmac` crate, so the two
//! implementations agree on every delivery the test sees.

use base64::Engine as _;

/// What a secret must start with.
pub const PREFIX: &str = "whsec_";

/// A webhook's signing key.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never in a log.
        f.write_str("Secret(..)")
    }
}

/// Why a secret cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Not `whsec_…`.
    #[error("a webhook secret starts with whsec_ (Standard Webhooks form)")]
    Prefix,
    /// The part after the prefix is not base64.
    #[error("the part after whsec_ is not base64")]
    Base64,
    /// Too short to be a key.
    #[error("the secret is {0} bytes; use at least 24 random bytes (32 are usual)")]
    Short(usize),
}

impl Secret {
    /// The secret written `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SecretError::Base64)?;
        if bytes.len() < 24 {
            return Err(SecretError::Short(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// The `webhook-signature` value for message `id` sent at `timestamp` (Unix seconds)
    /// with `body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        assert_eq!(Secret::parse("abc").unwrap_err(), SecretError::Prefix);
        assert_eq!(Secret::parse("whsec_!!").unwrap_err(), SecretError::Base64);
        assert_eq!(
            Secret::parse("whsec_AAAA").unwrap_err(),
            SecretError::Short(3)
        );
        assert!(
            format!(
                "{:?}",
                Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
            ) == "Secret(..)"
        );
    }
}
