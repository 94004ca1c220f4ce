//! Secrets in a DeliveryTargets document are write-only: API readers see them masked, and a
//! document sent back with the mask keeps the stored secret. A Secret being rotated out is not
//! even masked: readers see only until when it signs.

use chrono::{DateTime, Utc};

use super::{DeliveryTargetsDoc, MASK};

impl DeliveryTargetsDoc {
    /// The same document with every secret replaced by [`MASK`]: what API readers see at `now`.
    pub fn masked(&self, now: DateTime<Utc>) -> Self {
        let mut doc = self.clone();
        if let Some(http) = &mut doc.http {
            mask(&mut http.secret);
            mask(&mut http.custom_auth_header_value);
            http.secret_rotation = http.secret_rotation.as_ref().and_then(|r| r.for_readers(now));
        }
        if let Some(discover) = &mut doc.discover_event {
            mask(&mut discover.api_key);
        }
        if let Some(segment) = &mut doc.segment {
            mask(&mut segment.write_key);
        }
        doc
    }

    /// Puts back the stored secret wherever a client sent the mask it was shown, so that a
    /// GET-then-PUT round trip keeps secrets instead of overwriting them with asterisks.
    pub fn restore_masked(&mut self, stored: &DeliveryTargetsDoc) {
        if let (Some(new), Some(old)) = (&mut self.http, &stored.http) {
            unmask(&mut new.secret, &old.secret);
            unmask(&mut new.custom_auth_header_value, &old.custom_auth_header_value);
        }
        if let (Some(new), Some(old)) = (&mut self.discover_event, &stored.discover_event) {
            unmask(&mut new.api_key, &old.api_key);
        }
        if let (Some(new), Some(old)) = (&mut self.segment, &stored.segment) {
            unmask(&mut new.write_key, &old.write_key);
        }
    }
}

fn mask(secret: &mut Option<String>) {
    if secret.is_some() {
        *secret = Some(MASK.to_owned());
    }
}

fn unmask(secret: &mut Option<String>, stored: &Option<String>) {
    if secret.as_deref() == Some(MASK) {
        secret.clone_from(stored);
    }
}
