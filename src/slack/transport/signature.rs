//! Verifying that a request comes from Slack: the `v0` scheme of "Verifying
//! requests from Slack". The signature is `v0=` + hex HMAC-SHA256, keyed
//! with the app's signing secret, over `v0:{X-Slack-Request-Timestamp}:{raw
//! body}`; it is compared in constant time, and a request whose timestamp
//! is more than 5 minutes from now is refused as a possible replay.
//!
//! Written here rather than taken from slack-morphism's verifier because
//! the clock must be injectable (to check Slack's own published example
//! from 2018) and each refusal needs its own reason for the operator's log.

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's replay window.
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// Why a request was refused. Never holds the secret or the signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp header is missing")]
    MissingTimestamp,
    #[error("the X-Slack-Signature header is missing")]
    MissingSignature,
    #[error("the X-Slack-Request-Timestamp header is not a Unix time")]
    BadTimestamp,
    #[error("the request is {age_secs} s from now, outside Slack's 5-minute window (replayed, or this machine's clock is off)")]
    Stale { age_secs: i64 },
    #[error(
        "the signature does not match the body (wrong SLACK_SIGNING_SECRET, or not from Slack)"
    )]
    Mismatch,
}

/// Checks requests against one signing secret.
#[derive(Clone)]
pub struct Verifier {
    secret: SecretString,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier { secret: [redacted] }")
    }
}

impl Verifier {
    pub fn new(secret: SecretString) -> Verifier {
        Verifier { secret }
    }

    /// Verifies a request's headers and raw body at `now` (Unix seconds).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let (timestamp, signature) = check_headers(timestamp, signature, now)?;
        let expected = self.sign(timestamp, body);
        if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// The `v0=…` signature of a body sent at `timestamp` (also what the
    /// tests and the load generator sign with).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac =
            match hmac::Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes()) {
                Ok(mac) => mac,
                Err(_) => return String::new(),
            };
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What can be checked before the body is read: both headers are there and
/// the timestamp is within Slack's window. Returns them trimmed. A request
/// refused here costs no read of its body.
pub fn check_headers<'a>(
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
    now: i64,
) -> Result<(&'a str, &'a str), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age_secs = now.saturating_sub(sent_at);
    if age_secs.abs() > MAX_AGE_SECS {
        return Err(SignatureError::Stale { age_secs });
    }
    Ok((timestamp, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const THEN: i64 = 1_531_420_618;

    fn verifier() -> Verifier {
        Verifier::new(SecretString::from(SECRET))
    }

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(verifier().sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), THEN + 60),
            Ok(())
        );
    }

    #[test]
    fn a_forged_or_tampered_request_is_refused() {
        let tampered = BODY.replace("roadrunner", "wile_e");
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), tampered.as_bytes(), THEN),
            Err(SignatureError::Mismatch)
        );
        let other = Verifier::new(SecretString::from("another-secret"));
        assert_eq!(
            other.verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), THEN),
            Err(SignatureError::Mismatch)
        );
        // Same timestamp signed, another one claimed.
        assert_eq!(
            verifier().verify(Some("1531420619"), Some(SIGNATURE), BODY.as_bytes(), THEN),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_requests_are_refused_even_when_signed() {
        let late = THEN + MAX_AGE_SECS + 1;
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), late),
            Err(SignatureError::Stale {
                age_secs: MAX_AGE_SECS + 1
            })
        );
        let early = THEN - MAX_AGE_SECS - 1;
        assert!(matches!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), early),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            verifier().verify(
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                THEN + MAX_AGE_SECS
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let v = verifier();
        assert_eq!(
            v.verify(None, Some(SIGNATURE), BODY.as_bytes(), THEN),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), None, BODY.as_bytes(), THEN),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            v.verify(Some("yesterday"), Some(SIGNATURE), BODY.as_bytes(), THEN),
            Err(SignatureError::BadTimestamp)
        );
        let message = SignatureError::Mismatch.to_string();
        assert!(!message.contains(SECRET));
    }
}
