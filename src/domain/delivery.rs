//! A delivery's state: the closed list of statuses it moves through.

use serde::Serialize;
use utoipa::ToSchema;

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
    fn each_status_reads_back_as_itself_and_serializes_as_its_name() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(DeliveryStatus::parse("pending"), None);
    }
}
