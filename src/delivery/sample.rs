//! What `POST …/deliveryconfig/{id}/test` sends. Vendor targets get a sample hydrated
//! `LineItemAdded` — one the Segment, Sitecore Send and Sitecore Discover mappings all express
//! (`Product Added`, `ADDED_TO_ORDER`, `a2c:cart`) — rendered by each target's own module, so
//! the vendor receives exactly the request a real event makes and its answer means something.
//! Its IDs (`trackway-test-…`) tell it apart in the vendor's tools. Http targets get a test
//! message (`EventType: "Test"`) that a receiver can recognise and acknowledge without acting
//! on it. Both are documented in docs/destinations.md ("Test deliveries").

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};

use super::commerce::Rendered;
use super::{render, Dispatcher};
use crate::domain::attempt::{AttemptResult, FailureKind};
use crate::domain::event_type::TEST_MESSAGE;
use crate::domain::targets::TargetKind;
use crate::domain::DeliveryConfig;

pub const CLIENT_ID: &str = "trackway-test";
pub const USER_ID: &str = "trackway-test-user";
pub const ANONYMOUS_ID: &str = "trackway-test-anonymous";
pub const ORDER_ID: &str = "trackway-test-order";
pub const LINE_ITEM_ID: &str = "trackway-test-line";
pub const PRODUCT_ID: &str = "trackway-test-product";

/// The sample event for vendor targets: one unit of a 1.00 USD product added to a cart.
pub fn sample_event(event_id: &str, now: DateTime<Utc>) -> Value {
    let line_item = json!({
        "ID": LINE_ITEM_ID, "ProductID": PRODUCT_ID, "Quantity": 1, "UnitPrice": 1.0,
        "LineSubtotal": 1.0, "LineTotal": 1.0,
    });
    json!({
        "ID": event_id,
        "EventType": "LineItemAdded",
        "Date": date(now),
        "ClientID": CLIENT_ID,
        "UserContext": {"ID": USER_ID, "AnonymousId": ANONYMOUS_ID},
        "Order": {
            "ID": ORDER_ID, "FromUserID": USER_ID, "Status": "Unsubmitted", "Currency": "USD",
            "LineItemCount": 1, "Subtotal": 1.0, "Total": 1.0,
        },
        "LineItem": line_item,
        "LineItems": [line_item],
        "Products": [{
            "ID": PRODUCT_ID, "Name": "Trackway test product",
            "xp": {"url": format!("https://example.com/products/{PRODUCT_ID}")},
        }],
        "User": {
            "ID": USER_ID, "Username": USER_ID, "FirstName": "Trackway", "LastName": "Test",
            "Email": "test@example.com",
        },
        "TrackingEvent": tracking_event(),
    })
}

/// The test message for Http targets.
pub fn test_message(event_id: &str, delivery_config_id: &str, now: DateTime<Utc>) -> Value {
    json!({
        "ID": event_id,
        "EventType": TEST_MESSAGE,
        "Date": date(now),
        "ClientID": null,
        "UserContext": {"ID": USER_ID, "AnonymousId": null},
        "User": {"ID": USER_ID, "Email": "test@example.com"},
        "TrackingEvent": tracking_event(),
        "Message": format!("A test message from Trackway for DeliveryConfig {delivery_config_id}."),
    })
}

fn date(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn tracking_event() -> Value {
    json!({"ID": null, "Name": "Test message", "ConfigData": null})
}

/// What a test send to one target did.
#[derive(Debug, Clone, PartialEq)]
pub enum TestOutcome {
    /// A request was made, or refused before it left (the network guard, a config error):
    /// what it met.
    Sent(AttemptResult),
    /// The target cannot express the sample, so nothing was sent: the reason.
    Skipped(String),
}

impl Dispatcher {
    /// Sends a sample to each target of `config` now, outside the queue, all at once: the
    /// test message to an Http target, a sample `LineItemAdded` to a vendor.
    pub async fn test(&self, config: &DeliveryConfig, now: DateTime<Utc>) -> Vec<(TargetKind, TestOutcome)> {
        let id = uuid::Uuid::now_v7().simple();
        let (event_id, delivery_id) = (format!("evt_test_{id}"), format!("dlv_test_{id}"));
        let message = test_message(&event_id, config.id.as_str(), now);
        let event = sample_event(&event_id, now);
        join_all(config.targets.kinds().into_iter().map(|kind| {
            let payload = if kind == TargetKind::Http { &message } else { &event };
            let rendered = render(&config.targets, kind, payload, &delivery_id, now);
            async move {
                let outcome = match rendered {
                    Ok(Rendered::Request(request)) => {
                        TestOutcome::Sent(self.send(kind, &request, config.policy.timeout).await)
                    }
                    Ok(Rendered::Skip(reason)) => TestOutcome::Skipped(reason),
                    Err(missing) => {
                        TestOutcome::Sent(AttemptResult::failed(FailureKind::Config, format!("no {missing}")))
                    }
                };
                (kind, outcome)
            }
        }))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::commerce::Rendered;
    use crate::delivery::render;
    use crate::domain::hydration::{hydrate, with_tracking_event, Snapshot, UserContext};
    use crate::domain::targets::{DeliveryTargets, DeliveryTargetsDoc, TargetKind};
    use crate::domain::trigger::{Trigger, TriggerDoc};

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn object(value: &Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_sample_is_what_hydrating_its_trigger_gives() {
        let sample = sample_event("evt_test_1", now());
        let doc: TriggerDoc = serde_json::from_value(json!({
            "EventType": "LineItemAdded", "ClientID": CLIENT_ID, "UserID": USER_ID,
            "AnonymousID": ANONYMOUS_ID, "OrderID": ORDER_ID, "LineItemID": LINE_ITEM_ID,
        }))
        .unwrap();
        let snapshot = Snapshot {
            order: Some(object(&sample["Order"])),
            line_item: Some(object(&sample["LineItem"])),
            line_items: vec![object(&sample["LineItem"])],
            products: vec![object(&sample["Products"][0])],
            user: Some(object(&sample["User"])),
            previous_quantity: None,
        };
        let user = UserContext {
            id: Some(USER_ID.into()),
            anonymous_id: Some(ANONYMOUS_ID.into()),
        };
        let (payload, missing) = hydrate("evt_test_1", &Trigger::parse(&doc).unwrap(), now(), &snapshot, &user);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(with_tracking_event(payload, &sample["TrackingEvent"]), sample);
    }

    #[test]
    fn every_vendor_target_renders_the_sample_as_a_request() {
        let doc: DeliveryTargetsDoc = serde_json::from_value(json!({
            "SendEvent": {"SiteID": "0f8fad5b-d9cb-469f-a165-70867728950e"},
            "DiscoverEvent": {"ClientID": "c", "ApiKey": "k", "ServiceEndpoint": "https://discover.example.com/e"},
            "Segment": {"WriteKey": "w"},
        }))
        .unwrap();
        let targets = DeliveryTargets::parse("DeliveryTargets", &doc).unwrap();
        let sample = sample_event("evt_test_1", now());
        for (kind, path, excerpt) in [
            (TargetKind::SendEvent, "/track", r#""actionType":"ADDED_TO_ORDER""#),
            (TargetKind::DiscoverEvent, "/e", r#"\"type\":\"a2c\""#),
            (TargetKind::Segment, "/v1/track", r#""event":"Product Added""#),
        ] {
            let Ok(Rendered::Request(request)) = render(&targets, kind, &sample, "dlv_test_1", now()) else {
                panic!("{kind} did not render the sample as a request");
            };
            assert_eq!(request.url.path(), path, "{kind}");
            let body = String::from_utf8(request.body).unwrap();
            assert!(body.contains(excerpt), "{kind}: {body}");
            assert!(body.contains(PRODUCT_ID), "{kind}: {body}");
        }
    }
}
