//! Rotating an Http target's Secret without downtime. When the Secret changes — through
//! `POST …/rotatesecret` or a PUT/PATCH that sends a different one — the Secret it replaces keeps
//! signing beside it for a grace period: `webhook-signature` then carries one `v1,` entry per
//! Secret, the new one first, as Standard Webhooks intends, so that each receiver switches to the
//! new Secret when it is ready. `X-oc-hash` holds a single value, the new Secret's.
//!
//! The replaced Secret is kept in the stored targets document (`Http.SecretRotation`), as
//! write-only as the Secret itself: readers see only when it stops signing, and requests cannot
//! set it (a request's `SecretRotation` is ignored). A second rotation during the grace period
//! retires the oldest Secret at once: only the Secret being replaced keeps signing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse, DeliveryTargets, DeliveryTargetsDoc, HttpTarget, MASK};
use crate::domain::validation::{Invalid, InvalidCode, Invalids};

/// How long a replaced Secret keeps signing beside its successor, in whole hours: 0 (it stops at
/// once, for a Secret that leaked) to a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod {
    hours: u32,
}

impl GracePeriod {
    pub const MAX_HOURS: u32 = 7 * 24;

    /// `None` when `hours` is outside 0 to [`Self::MAX_HOURS`].
    pub fn from_hours(hours: i64) -> Option<GracePeriod> {
        let hours = u32::try_from(hours).ok().filter(|h| *h <= Self::MAX_HOURS)?;
        Some(GracePeriod { hours })
    }

    pub fn hours(self) -> u32 {
        self.hours
    }

    /// When a Secret replaced at `now` stops signing; `None` when it stops at once.
    fn end(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.hours > 0).then(|| now + chrono::Duration::hours(i64::from(self.hours)))
    }
}

/// A rotation in progress, as stored in `DeliveryTargets.Http.SecretRotation`. Read-only: readers
/// see when the previous Secret stops signing; Trackway sets it when the Secret changes and
/// ignores it in requests. Unlike the rest of the document it takes fields it does not know:
/// storage holds one that the API never shows, and a request's copy is ignored whatever it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SecretRotationDoc {
    /// Until when the Secret that was replaced signs beside the current one.
    pub previous_expires_at: DateTime<Utc>,
    /// The replaced Secret: in storage only, never shown, ignored in requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub previous_secret: Option<String>,
}

impl SecretRotationDoc {
    /// What API readers see at `now`: when the previous Secret stops signing, while it still
    /// does; nothing once it has stopped.
    pub(super) fn for_readers(&self, now: DateTime<Utc>) -> Option<SecretRotationDoc> {
        (now < self.previous_expires_at).then_some(SecretRotationDoc {
            previous_expires_at: self.previous_expires_at,
            previous_secret: None,
        })
    }
}

/// A replaced Secret that signs beside the current one until `expires_at`.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    pub secret: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl PreviousSecret {
    /// `replaced`, replaced at `now`, signing for `grace`; `None` when the grace period is 0.
    fn starting(replaced: SecretString, now: DateTime<Utc>, grace: GracePeriod) -> Option<PreviousSecret> {
        grace.end(now).map(|expires_at| PreviousSecret {
            secret: replaced,
            expires_at,
        })
    }

    fn from_doc(doc: &SecretRotationDoc) -> Option<PreviousSecret> {
        doc.previous_secret.as_ref().map(|secret| PreviousSecret {
            secret: SecretString::from(secret.as_str()),
            expires_at: doc.previous_expires_at,
        })
    }

    pub(super) fn to_doc(&self) -> SecretRotationDoc {
        SecretRotationDoc {
            previous_expires_at: self.expires_at,
            previous_secret: Some(self.secret.expose_secret().to_owned()),
        }
    }

    fn signs_at(&self, at: DateTime<Utc>) -> bool {
        at < self.expires_at
    }
}

impl HttpTarget {
    /// The Secrets that sign a request made at `at`: the Secret, then the one it replaced while
    /// that one's grace period lasts.
    pub fn signing_secrets(&self, at: DateTime<Utc>) -> impl Iterator<Item = &SecretString> {
        let previous = self.previous_secret.as_ref().filter(|p| p.signs_at(at));
        self.secret.iter().chain(previous.map(|p| &p.secret))
    }
}

/// What `POST …/rotatesecret` asks for: the new Secret, and how long the current one keeps
/// signing beside it.
#[derive(Debug, Clone)]
pub struct SecretRotation {
    pub secret: SecretString,
    /// Trackway chose the Secret (the request named none), so the response shows it, once.
    pub generated: bool,
    pub grace: GracePeriod,
}

impl SecretRotation {
    /// Reads the request's `Secret` (generated when absent) and `GracePeriodHours` (`default`
    /// when absent), reporting every problem at once.
    pub fn parse(secret: Option<&str>, grace_hours: Option<i64>, default: GracePeriod) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let given = match secret {
            None => None,
            Some("") => {
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    "Secret",
                    "Secret may not be empty: send the new Secret, or omit it to have one generated.",
                ));
                None
            }
            Some(MASK) => {
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    "Secret",
                    format!("Secret is the mask ({MASK}), which stands for the current Secret: send the new Secret, or omit it to have one generated."),
                ));
                None
            }
            Some(secret) => invalids.take(parse::optional_secret("Secret", Some(secret))).flatten(),
        };
        let grace = match grace_hours {
            None => Some(default),
            Some(hours) => invalids.take(GracePeriod::from_hours(hours).ok_or_else(|| {
                Invalid::new(
                    InvalidCode::InvalidValue,
                    "GracePeriodHours",
                    format!("GracePeriodHours must be between 0 and {}.", GracePeriod::MAX_HOURS),
                )
            })),
        };
        invalids.finish(|| SecretRotation {
            generated: given.is_none(),
            secret: given.unwrap_or_else(generate_secret),
            grace: grace.expect("checked by finish"),
        })
    }
}

/// A new Standard Webhooks Secret: `whsec_` and 32 random bytes in base64 (the spec asks for
/// 24 to 64).
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// Why `POST …/rotatesecret` cannot rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationRefused {
    /// The DeliveryConfig has no Http target, hence no Secret.
    NoHttpTarget,
    /// The new Secret is the current one.
    SameSecret,
}

impl DeliveryTargets {
    /// Validates a stored targets document: as [`DeliveryTargets::parse`], plus the rotation in
    /// progress of the Http target's Secret, which only storage holds.
    pub fn parse_stored(field: &str, doc: &DeliveryTargetsDoc) -> Result<Self, Invalids> {
        let mut targets = DeliveryTargets::parse(field, doc)?;
        targets.restore_rotation(doc);
        Ok(targets)
    }

    /// Takes the Http target's rotation in progress from `stored`, the document these targets
    /// were parsed from.
    pub fn restore_rotation(&mut self, stored: &DeliveryTargetsDoc) {
        if let (Some(http), Some(stored)) = (&mut self.http, &stored.http) {
            http.previous_secret = stored
                .secret_rotation
                .as_ref()
                .filter(|_| http.secret.is_some())
                .and_then(PreviousSecret::from_doc);
        }
    }

    /// Makes these targets, about to replace `stored`, carry the Http Secret's rotation: a
    /// Secret changed to a different one keeps the Secret it replaces signing for `grace` from
    /// `now`; an unchanged one keeps the rotation in progress; a Secret removed (or the Http
    /// target with it) ends it, as nothing signs any more.
    pub fn succeed(&mut self, stored: Option<&DeliveryTargetsDoc>, now: DateTime<Utc>, grace: GracePeriod) {
        let Some(http) = &mut self.http else {
            return;
        };
        let stored = stored.and_then(|targets| targets.http.as_ref());
        let stored_secret = stored.and_then(|h| h.secret.as_deref());
        http.previous_secret = match (&http.secret, stored_secret) {
            (Some(secret), Some(old)) if secret.expose_secret() == old => stored
                .and_then(|h| h.secret_rotation.as_ref())
                .and_then(PreviousSecret::from_doc)
                .filter(|previous| previous.signs_at(now)),
            (Some(_), Some(old)) => PreviousSecret::starting(SecretString::from(old), now, grace),
            _ => None,
        };
    }

    /// Replaces the Http target's Secret with `rotation`'s, the current one (if any) signing
    /// beside it for the rotation's grace period from `now`. Returns when it stops signing,
    /// `None` when nothing else signs (there was no Secret, or the grace period is 0).
    pub fn rotate_secret(
        &mut self,
        rotation: &SecretRotation,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RotationRefused> {
        let http = self.http.as_mut().ok_or(RotationRefused::NoHttpTarget)?;
        let new = rotation.secret.expose_secret();
        if http
            .secret
            .as_ref()
            .is_some_and(|current| current.expose_secret() == new)
        {
            return Err(RotationRefused::SameSecret);
        }
        let replaced = http.secret.replace(rotation.secret.clone());
        http.previous_secret = replaced.and_then(|old| PreviousSecret::starting(old, now, rotation.grace));
        Ok(http.previous_secret.as_ref().map(|p| p.expires_at))
    }
}

#[cfg(test)]
mod tests;
