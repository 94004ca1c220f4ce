//! API keys: a random bearer token shown once, stored only as its SHA-256, carrying roles and
//! (for `TriggerSender`) the ClientIDs it may post triggers for.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::id::ResourceId;
use super::role::Role;

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "tw_";

/// A key's identity and powers, as the API sees the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: uuid::Uuid,
    pub name: String,
    pub roles: Vec<Role>,
    pub client_ids: Vec<ResourceId>,
}

impl ApiKey {
    /// Whether the key holds any of `allowed`.
    pub fn has_any_role(&self, allowed: &[Role]) -> bool {
        self.roles.iter().any(|r| allowed.contains(r))
    }
}

/// A freshly generated token: 256 random bits, URL-safe base64, behind [`TOKEN_PREFIX`].
pub fn generate_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored and looked up: SHA-256 of the token's bytes.
pub fn token_hash(token: &SecretString) -> [u8; 32] {
    Sha256::digest(token.expose_secret().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert!(a.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose_secret().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(token_hash(&a), token_hash(&a.expose_secret().to_owned().into()));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn sha256_matches_the_known_vector() {
        let hash = token_hash(&SecretString::from("abc"));
        assert_eq!(
            hex::encode(hash),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
