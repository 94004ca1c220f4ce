//! The commerce events a TrackingEvent can subscribe to: OrderCloud's four plus the ones a
//! commerce analytics destination (Segment's e-commerce spec) expects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validation::{Invalid, InvalidCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    UserLoggedIn,
    LineItemAdded,
    LineItemUpdated,
    OrderSubmitted,
    LineItemRemoved,
    CheckoutStarted,
    PaymentCaptured,
    OrderRefunded,
    OrderCanceled,
    ProductViewed,
    PromotionApplied,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::UserLoggedIn,
        EventType::LineItemAdded,
        EventType::LineItemUpdated,
        EventType::OrderSubmitted,
        EventType::LineItemRemoved,
        EventType::CheckoutStarted,
        EventType::PaymentCaptured,
        EventType::OrderRefunded,
        EventType::OrderCanceled,
        EventType::ProductViewed,
        EventType::PromotionApplied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserLoggedIn => "UserLoggedIn",
            EventType::LineItemAdded => "LineItemAdded",
            EventType::LineItemUpdated => "LineItemUpdated",
            EventType::OrderSubmitted => "OrderSubmitted",
            EventType::LineItemRemoved => "LineItemRemoved",
            EventType::CheckoutStarted => "CheckoutStarted",
            EventType::PaymentCaptured => "PaymentCaptured",
            EventType::OrderRefunded => "OrderRefunded",
            EventType::OrderCanceled => "OrderCanceled",
            EventType::ProductViewed => "ProductViewed",
            EventType::PromotionApplied => "PromotionApplied",
        }
    }

    /// Parses the `EventType` field; the error lists every allowed value.
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        value.parse().map_err(|UnknownEventType| {
            let allowed: Vec<String> = EventType::ALL.iter().map(|t| t.as_str().to_owned()).collect();
            Invalid {
                code: InvalidCode::InvalidEventType,
                field: field.to_owned(),
                message: format!(
                    "{field} {value:?} is not a known event type; allowed: {}.",
                    allowed.join(", ")
                ),
                allowed: Some(allowed),
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEventType;

impl FromStr for EventType {
    type Err = UnknownEventType;

    /// Exact match: OrderCloud's enum values are case-sensitive, and so are ours.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or(UnknownEventType)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn unknown_event_type_lists_the_allowed_ones() {
        let err = EventType::parse("EventType", "OrderShipped").unwrap_err();
        assert_eq!(err.code, InvalidCode::InvalidEventType);
        assert!(err.message.contains("OrderSubmitted"), "{}", err.message);
        assert_eq!(err.allowed.unwrap().len(), EventType::ALL.len());
    }
}
