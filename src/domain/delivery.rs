//! A delivery's identity and state: its ID, and the closed list of statuses it moves through.

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

use super::ResourceId;

/// A delivery's ID: `dlv_` and a UUIDv7, so that IDs sort by when they were made. It is also
/// what a receiver dedupes on (`webhook-id`). Made once, by [`DeliveryId::new`], when a delivery
/// is created; stored and serialised as the bare string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct DeliveryId(String);

impl DeliveryId {
    // Not `Default`: each call makes a different ID, which a default value does not suggest.
    #[allow(clippy::new_without_default)]
    pub fn new() -> DeliveryId {
        DeliveryId(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A delivery ID as a client names it, in an API path: it is only looked up, and one that no
/// delivery has finds none.
impl From<ResourceId> for DeliveryId {
    fn from(id: ResourceId) -> DeliveryId {
        DeliveryId(id.as_str().to_owned())
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a delivery stands. `Pending` (queued, or in flight while leased) → `Succeeded`, or
/// back to `Pending` with a later attempt due, or `Failed` (a dead letter), or `Skipped` (the
/// target cannot express the event: nothing was sent, nothing will be).
// The same list is the CHECK on `deliveries.status` (tests/api/schema.rs compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "Pending",
            DeliveryStatus::Succeeded => "Succeeded",
            DeliveryStatus::Failed => "Failed",
            DeliveryStatus::Skipped => "Skipped",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_id_is_new_each_time_and_serializes_as_its_text() {
        let (first, second) = (DeliveryId::new(), DeliveryId::new());
        assert_ne!(first, second);
        assert!(
            first.as_str().starts_with("dlv_") && first.as_str().len() == 36,
            "{first}"
        );
        assert!(first.as_str() < second.as_str(), "IDs sort by when they were made");
        assert_eq!(serde_json::to_value(&first).unwrap(), first.to_string());
    }

    #[test]
    fn each_status_reads_back_as_itself_and_serializes_as_its_name() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(DeliveryStatus::parse("pending"), None);
    }
}
