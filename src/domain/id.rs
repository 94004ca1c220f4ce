//! Client-chosen resource IDs, as OrderCloud allows them: at most 100 characters of
//! `[A-Za-z0-9_.-]`, generated when a client omits one.

use std::fmt;

use rand::Rng;
use serde::Serialize;

use super::validation::{Invalid, InvalidCode};

pub const MAX_ID_LEN: usize = 100;

/// The characters [`ResourceId::parse`] accepts, as a regular expression for the API document.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.-]+$";

/// A validated ID. The only way to make one is [`ResourceId::parse`] or [`ResourceId::generate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    /// Parses `value` as the ID named `field` (used in the error).
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid::required(field));
        }
        if value.chars().count() > MAX_ID_LEN {
            return Err(Invalid::new(
                InvalidCode::InvalidId,
                field,
                format!("{field} must be at most {MAX_ID_LEN} characters."),
            ));
        }
        if let Some(bad) = value.chars().find(|c| !is_id_char(*c)) {
            return Err(Invalid::new(
                InvalidCode::InvalidId,
                field,
                format!("{field} may contain only letters, digits, '_', '.' and '-'; found {bad:?}."),
            ));
        }
        Ok(ResourceId(value.to_owned()))
    }

    /// The ID from a document when it has one, a fresh one otherwise.
    pub fn parse_or_generate(field: &str, value: Option<&str>) -> Result<Self, Invalid> {
        match value {
            Some(value) => ResourceId::parse(field, value),
            None => Ok(ResourceId::generate()),
        }
    }

    /// A random 22-character ID (about 131 bits), URL- and ID-safe.
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        let id = (0..22)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        ResourceId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Keep [`ID_PATTERN`] in step.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordercloud_style_ids() {
        for id in ["a", "Order-1", "x.y_z", &"a".repeat(100)] {
            assert_eq!(ResourceId::parse("ID", id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_bad_characters_and_length() {
        for id in ["a b", "a/b", "é", "a?b", &"a".repeat(101)] {
            let err = ResourceId::parse("ID", id).unwrap_err();
            assert_eq!(err.code, InvalidCode::InvalidId, "{id}");
        }
        assert_eq!(ResourceId::parse("ID", "").unwrap_err().code, InvalidCode::Required);
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = ResourceId::generate();
        let b = ResourceId::generate();
        assert_ne!(a, b);
        assert_eq!(ResourceId::parse("ID", a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 22);
    }
}
