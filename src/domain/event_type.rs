//! The commerce events a TrackingEvent can subscribe to: OrderCloud's four plus the ones a
//! commerce analytics destination (Segment's e-commerce spec) expects; and the Sitecore event
//! type name each delivery to an Http target carries (`sitecore-event-type`), Trackway's own
//! messages (the test message, the failure notice) included.

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

    /// The name an Http delivery of this event carries (`sitecore-event-type`, and
    /// `SitecoreEventType` in the body). OrderCloud's four take the names its knowledge base
    /// gives; the others take names in the same style under Trackway's own namespace, since
    /// Sitecore emits no such event and a receiver should not mistake them for Sitecore's.
    pub fn sitecore_event_type(self) -> &'static str {
        match self {
            EventType::UserLoggedIn => "sitecore.backbone.messages.sessions.identified",
            EventType::LineItemAdded => "sitecore.backbone.messages.orders.lines.added",
            EventType::LineItemUpdated => "sitecore.backbone.messages.orders.lines.updated",
            EventType::OrderSubmitted => "sitecore.backbone.messages.orders.submitted",
            EventType::LineItemRemoved => "trackway.messages.orders.lines.removed",
            EventType::CheckoutStarted => "trackway.messages.orders.checkout.started",
            EventType::PaymentCaptured => "trackway.messages.orders.payments.captured",
            EventType::OrderRefunded => "trackway.messages.orders.refunded",
            EventType::OrderCanceled => "trackway.messages.orders.canceled",
            EventType::ProductViewed => "trackway.messages.products.viewed",
            EventType::PromotionApplied => "trackway.messages.orders.promotions.applied",
        }
    }

    /// Parses the `EventType` field; the error lists every allowed value.
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        value.parse().map_err(|UnknownEventType| {
            let allowed = EventType::ALL.map(EventType::as_str);
            Invalid::not_one_of(
                InvalidCode::InvalidEventType,
                field,
                value,
                "a known event type",
                &allowed,
            )
        })
    }
}

/// The `EventType` of the test message `POST …/deliveryconfig/{id}/test` sends to Http targets.
pub const TEST_MESSAGE: &str = "Test";
/// The `EventType` of the notice of a dead letter sent to the ErrorConfig's DeliveryConfig.
pub const FAILURE_NOTICE: &str = "DeliveryFailed";
/// The name of a payload whose `EventType` is none of the above: no stored payload has one
/// (ingest accepts only known types), but a name keeps the Http renderer total.
pub const UNKNOWN_MESSAGE_NAME: &str = "trackway.messages.unknown";

/// The Sitecore event type name of a payload's `EventType`, known or one of Trackway's own
/// messages ([`TEST_MESSAGE`], [`FAILURE_NOTICE`]).
pub fn sitecore_event_type(event_type: &str) -> &'static str {
    match event_type {
        TEST_MESSAGE => "trackway.messages.test",
        FAILURE_NOTICE => "trackway.messages.deliveries.failed",
        other => other
            .parse()
            .map_or(UNKNOWN_MESSAGE_NAME, EventType::sitecore_event_type),
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
    fn ordercloud_events_take_the_knowledge_base_names_and_the_rest_trackways() {
        assert_eq!(
            EventType::OrderSubmitted.sitecore_event_type(),
            "sitecore.backbone.messages.orders.submitted"
        );
        let names: std::collections::HashSet<&str> = EventType::ALL.iter().map(|t| t.sitecore_event_type()).collect();
        assert_eq!(names.len(), EventType::ALL.len(), "every name is distinct");
        for t in EventType::ALL {
            let ordercloud = matches!(
                t,
                EventType::UserLoggedIn
                    | EventType::LineItemAdded
                    | EventType::LineItemUpdated
                    | EventType::OrderSubmitted
            );
            let namespace = if ordercloud {
                "sitecore.backbone.messages."
            } else {
                "trackway.messages."
            };
            assert!(t.sitecore_event_type().starts_with(namespace), "{t}");
            assert_eq!(sitecore_event_type(t.as_str()), t.sitecore_event_type());
        }
    }

    #[test]
    fn trackways_own_messages_have_names_too() {
        assert_eq!(sitecore_event_type(TEST_MESSAGE), "trackway.messages.test");
        assert_eq!(
            sitecore_event_type(FAILURE_NOTICE),
            "trackway.messages.deliveries.failed"
        );
        assert_eq!(sitecore_event_type("OrderShipped"), UNKNOWN_MESSAGE_NAME);
    }

    #[test]
    fn unknown_event_type_lists_the_allowed_ones() {
        let err = EventType::parse("EventType", "OrderShipped").unwrap_err();
        assert_eq!(err.code, InvalidCode::InvalidEventType);
        assert!(err.message.contains("OrderSubmitted"), "{}", err.message);
        assert_eq!(err.allowed.unwrap().len(), EventType::ALL.len());
    }
}
