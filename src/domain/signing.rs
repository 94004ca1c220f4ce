//! Signatures on outgoing webhooks. Two schemes, both HMAC-SHA256 with the target's Secret:
//! - Standard Webhooks: `webhook-signature: v1,<base64 HMAC(key, "{id}.{timestamp}.{body}")>`,
//!   where a `whsec_`-prefixed secret is base64-decoded into the key (as the spec's libraries
//!   do) and any other secret is used as its UTF-8 bytes;
//! - OrderCloud: `X-oc-hash: <base64 HMAC(UTF-8 secret, body)>`.
//!
//! Verification compares in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key a Standard Webhooks secret stands for.
pub fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD.decode(encoded).unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// `v1,<base64 signature>` for one message.
pub fn standard_webhooks_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(&standard_webhooks_key(secret));
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether any `v1,` entry of a (space-separated) `webhook-signature` header is valid.
pub fn verify_standard_webhooks(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let key = standard_webhooks_key(secret);
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .any(|sig| {
            let mut mac = mac(&key);
            mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&sig).is_ok()
        })
}

/// OrderCloud's `X-oc-hash` value.
pub fn ordercloud_hash(secret: &str, body: &[u8]) -> String {
    let mut mac = mac(secret.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time check of an `X-oc-hash` value.
pub fn verify_ordercloud_hash(secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(expected) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac = mac(secret.as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Standard Webhooks' published vector (the spec's Rust library, `test_sign`).
    const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SW_TS: i64 = 1_649_367_553;
    const SW_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SW_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn standard_webhooks_vector() {
        assert_eq!(standard_webhooks_signature(SW_SECRET, SW_ID, SW_TS, SW_BODY), SW_SIG);
        assert!(verify_standard_webhooks(SW_SECRET, SW_ID, SW_TS, SW_BODY, SW_SIG));
    }

    #[test]
    fn standard_webhooks_verification_rejects_changes_and_accepts_rotation_lists() {
        assert!(!verify_standard_webhooks(SW_SECRET, SW_ID, SW_TS + 1, SW_BODY, SW_SIG));
        assert!(!verify_standard_webhooks(
            SW_SECRET,
            "msg_other",
            SW_TS,
            SW_BODY,
            SW_SIG
        ));
        assert!(!verify_standard_webhooks(SW_SECRET, SW_ID, SW_TS, b"{}", SW_SIG));
        assert!(!verify_standard_webhooks(
            "whsec_b3RoZXI=",
            SW_ID,
            SW_TS,
            SW_BODY,
            SW_SIG
        ));
        let rotated = format!("v1,bm90IGl0 {SW_SIG}");
        assert!(verify_standard_webhooks(SW_SECRET, SW_ID, SW_TS, SW_BODY, &rotated));
    }

    #[test]
    fn ordercloud_vector() {
        let hash = ordercloud_hash("my-secret-key", br#"{"Route":"v1/buyers"}"#);
        assert_eq!(hash, "m7SCmmpTRCNapHsH2scvQblzFyx7hjtx8RE59Dy2KGk=");
        assert!(verify_ordercloud_hash(
            "my-secret-key",
            br#"{"Route":"v1/buyers"}"#,
            &hash
        ));
        assert!(!verify_ordercloud_hash("other-key", br#"{"Route":"v1/buyers"}"#, &hash));
        assert!(!verify_ordercloud_hash(
            "my-secret-key",
            br#"{"Route":"v1/buyers"}"#,
            "not base64!"
        ));
    }

    #[test]
    fn plain_secrets_sign_with_their_bytes() {
        assert_eq!(standard_webhooks_key("plain"), b"plain");
        assert_eq!(standard_webhooks_key("whsec_cGxhaW4="), b"plain");
    }
}
