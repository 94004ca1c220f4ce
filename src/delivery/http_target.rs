//! The Http target: the event as JSON, POSTed to the endpoint, signed the Standard Webhooks way
//! (`webhook-id` = the delivery ID, stable across retries; `webhook-timestamp` of the attempt;
//! `webhook-signature`, one `v1,` entry per Secret signing, two while a rotation's grace period
//! lasts) and the OrderCloud way (`X-oc-hash`, the current Secret's), plus the optional custom
//! auth header. Every request names its Sitecore event type (`sitecore-event-type`, and
//! `SitecoreEventType` in the body, which the signatures cover). The body is the target's
//! `PayloadFormat`: the hydrated payload, or OrderCloud's message for the event
//! ([`super::ordercloud_message`]).

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::client::PreparedRequest;
use super::commerce::Rendered;
use super::ordercloud_message;
use crate::domain::signing::{ordercloud_hash, standard_webhooks_signature};
use crate::domain::targets::{HttpTarget, PayloadFormat};
use crate::domain::EventType;

/// The body field naming the event's Sitecore event type, the same as the header.
pub const EVENT_TYPE_FIELD: &str = "SitecoreEventType";

/// The header naming the event's Sitecore event type.
pub const EVENT_TYPE_HEADER: &str = "sitecore-event-type";

/// What one attempt's request carries besides its body.
pub struct Envelope<'a> {
    /// The Sitecore event type name. The caller chooses it, so that a TrackingEvent could name
    /// its own.
    pub sitecore_event_type: &'a str,
    /// The delivery's ID (`webhook-id`).
    pub delivery_id: &'a str,
    /// When the attempt is made: `webhook-timestamp`, in unix seconds, and which Secrets sign.
    pub at: DateTime<Utc>,
}

/// The request for one attempt at delivering `payload` to `target`, or why there is none.
pub fn render(target: &HttpTarget, payload: &Value, envelope: &Envelope) -> Rendered {
    let event_type = payload["EventType"].as_str().and_then(|t| t.parse::<EventType>().ok());
    let body = match (target.payload_format(), event_type) {
        (PayloadFormat::OrderCloudMessage, Some(event_type)) => {
            match ordercloud_message::message(payload, event_type, envelope.sitecore_event_type) {
                Ok(message) => serde_json::to_vec(&message),
                Err(reason) => return Rendered::Skip(reason),
            }
        }
        // Trackway's own messages (the test message, failure notices) have no OrderCloud
        // model: they go as they are in either format, named like every other delivery.
        _ => match payload.as_object() {
            Some(payload) => serde_json::to_vec(&Hydrated {
                sitecore_event_type: envelope.sitecore_event_type,
                payload,
            }),
            None => serde_json::to_vec(payload),
        },
    };
    Rendered::Request(prepare(target, envelope, body.unwrap_or_default()))
}

/// The hydrated payload with `SitecoreEventType` first, serialised without copying the
/// payload (it is the largest thing a delivery holds).
struct Hydrated<'a> {
    sitecore_event_type: &'a str,
    payload: &'a Map<String, Value>,
}

impl Serialize for Hydrated<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = Value::from(self.sitecore_event_type);
        let payload = self.payload.iter().filter(|(field, _)| *field != EVENT_TYPE_FIELD);
        serializer.collect_map(std::iter::once((EVENT_TYPE_FIELD, &name)).chain(payload.map(|(f, v)| (f.as_str(), v))))
    }
}

/// Builds the signed request for one attempt.
fn prepare(target: &HttpTarget, envelope: &Envelope, body: Vec<u8>) -> PreparedRequest {
    let Envelope {
        sitecore_event_type,
        delivery_id,
        at,
    } = *envelope;
    let timestamp = at.timestamp();
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), delivery_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        (EVENT_TYPE_HEADER.to_owned(), sitecore_event_type.to_owned()),
    ];
    if let Some(secret) = &target.secret {
        let signatures: Vec<String> = target
            .signing_secrets(at)
            .map(|secret| standard_webhooks_signature(secret.expose_secret(), delivery_id, timestamp, &body))
            .collect();
        headers.push(("webhook-signature".to_owned(), signatures.join(" ")));
        // X-oc-hash holds one value: the current Secret's, so receivers checking it switch at
        // the rotation (Standard Webhooks' list is the way to switch at one's own pace).
        headers.push(("x-oc-hash".to_owned(), ordercloud_hash(secret.expose_secret(), &body)));
    }
    if let Some(custom) = &target.custom_auth_header {
        headers.push((custom.name.clone(), custom.value.expose_secret().to_owned()));
    }
    PreparedRequest {
        url: target.endpoint.clone(),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signing::{verify_ordercloud_hash, verify_standard_webhooks};
    use crate::domain::targets::{CustomAuthHeader, PreviousSecret};
    use secrecy::SecretString;
    use serde_json::json;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn target(secret: Option<&str>, payload_format: Option<PayloadFormat>) -> HttpTarget {
        HttpTarget {
            endpoint: "https://hooks.example.com/x".parse().unwrap(),
            secret: secret.map(SecretString::from),
            custom_auth_header: Some(CustomAuthHeader {
                name: "X-Api-Key".into(),
                value: SecretString::from("k"),
            }),
            payload_format,
            previous_secret: None,
        }
    }

    fn envelope(sitecore_event_type: &str) -> Envelope<'_> {
        Envelope {
            sitecore_event_type,
            delivery_id: "dlv_1",
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    fn header<'a>(request: &'a PreparedRequest, name: &str) -> Option<&'a str> {
        request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn request(rendered: Rendered) -> PreparedRequest {
        match rendered {
            Rendered::Request(request) => request,
            Rendered::Skip(reason) => panic!("skipped: {reason}"),
        }
    }

    fn body(request: &PreparedRequest) -> Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    /// What a receiver checks: both signatures, over the body as sent.
    fn assert_signed(request: &PreparedRequest) {
        let signature = header(request, "webhook-signature").unwrap();
        assert!(verify_standard_webhooks(
            SECRET,
            "dlv_1",
            1_700_000_000,
            &request.body,
            signature
        ));
        let hash = header(request, "x-oc-hash").unwrap();
        assert!(verify_ordercloud_hash(SECRET, &request.body, hash));
    }

    #[test]
    fn a_signed_request_verifies_both_ways() {
        let body = br#"{"ID":"evt_1"}"#.to_vec();
        let request = prepare(&target(Some(SECRET), None), &envelope("x.y"), body.clone());
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(header(&request, "webhook-id"), Some("dlv_1"));
        assert_eq!(header(&request, "webhook-timestamp"), Some("1700000000"));
        assert_eq!(header(&request, "sitecore-event-type"), Some("x.y"));
        assert_eq!(header(&request, "X-Api-Key"), Some("k"));
        assert_signed(&request);
        assert_eq!(request.body, body);
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_x_oc_hash_is_the_new_one_s() {
        const OLD: &str = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0";
        let at = envelope("x.y").at;
        let mut target = target(Some(SECRET), None);
        target.previous_secret = Some(PreviousSecret {
            secret: SecretString::from(OLD),
            expires_at: at + chrono::Duration::seconds(1),
        });
        let request = prepare(&target, &envelope("x.y"), b"{}".to_vec());
        let sign = |secret| standard_webhooks_signature(secret, "dlv_1", 1_700_000_000, b"{}");
        let both = format!("{} {}", sign(SECRET), sign(OLD));
        assert_eq!(header(&request, "webhook-signature"), Some(both.as_str()));
        assert_eq!(
            header(&request, "x-oc-hash"),
            Some(ordercloud_hash(SECRET, b"{}").as_str())
        );

        // The grace period is over at its end: only the new Secret signs.
        target.previous_secret.as_mut().unwrap().expires_at = at;
        let request = prepare(&target, &envelope("x.y"), b"{}".to_vec());
        assert_eq!(header(&request, "webhook-signature"), Some(sign(SECRET).as_str()));
    }

    #[test]
    fn without_a_secret_nothing_is_signed() {
        let request = prepare(&target(None, None), &envelope("x.y"), b"{}".to_vec());
        assert_eq!(header(&request, "webhook-signature"), None);
        assert_eq!(header(&request, "x-oc-hash"), None);
        assert_eq!(header(&request, "webhook-id"), Some("dlv_1"));
    }

    #[test]
    fn the_hydrated_body_is_the_payload_with_the_event_type_name_first() {
        let payload = json!({"ID": "evt_1", "EventType": "OrderSubmitted", "Order": {"ID": "PO1"}});
        let name = "sitecore.backbone.messages.orders.submitted";
        for format in [None, Some(PayloadFormat::Hydrated)] {
            let request = request(render(&target(Some(SECRET), format), &payload, &envelope(name)));
            let mut expected = payload.clone();
            expected[EVENT_TYPE_FIELD] = json!(name);
            assert_eq!(body(&request), expected);
            assert!(request.body.starts_with(br#"{"SitecoreEventType":"sitecore.backbone"#));
            assert_eq!(header(&request, "sitecore-event-type"), Some(name));
            assert_signed(&request);
        }
    }

    #[test]
    fn the_name_given_is_the_name_sent_even_over_one_in_the_payload() {
        let payload = json!({"EventType": "UserLoggedIn", "SitecoreEventType": "stale"});
        let request = request(render(&target(None, None), &payload, &envelope("override.name")));
        assert_eq!(body(&request)[EVENT_TYPE_FIELD], "override.name");
        assert_eq!(
            String::from_utf8_lossy(&request.body).matches(EVENT_TYPE_FIELD).count(),
            1
        );
    }

    #[test]
    fn the_ordercloud_format_sends_ordercloud_s_message() {
        let payload = json!({"EventType": "UserLoggedIn", "UserContext": {"ID": "u1", "AnonymousId": null},
                             "User": {"ID": "u1", "Email": "a@b.c", "FirstName": "Ada", "LastName": "L"}});
        let name = "sitecore.backbone.messages.sessions.identified";
        let target = target(Some(SECRET), Some(PayloadFormat::OrderCloudMessage));
        let request = request(render(&target, &payload, &envelope(name)));
        let sent = body(&request);
        assert_eq!(sent["UserContext"], json!({"ID": "u1", "AnonymousId": null}));
        assert_eq!(sent["Email"], "a@b.c");
        assert_eq!(sent[EVENT_TYPE_FIELD], name);
        assert!(sent.get("User").is_none(), "{sent}");
        assert_eq!(header(&request, "sitecore-event-type"), Some(name));
        assert_signed(&request);
    }

    #[test]
    fn the_ordercloud_format_skips_what_ordercloud_has_no_message_for() {
        let target = target(None, Some(PayloadFormat::OrderCloudMessage));
        let payload = json!({"EventType": "ProductViewed", "Products": [{"ID": "tea"}]});
        let Rendered::Skip(reason) = render(&target, &payload, &envelope("trackway.messages.products.viewed")) else {
            panic!("ProductViewed was sent");
        };
        assert!(reason.contains("ProductViewed"), "{reason}");
    }

    #[test]
    fn trackways_own_messages_go_as_they_are_in_either_format() {
        let payload = json!({"ID": "evt_test_1", "EventType": "Test", "Message": "hello"});
        for format in PayloadFormat::ALL {
            let request = request(render(
                &target(None, Some(format)),
                &payload,
                &envelope("trackway.messages.test"),
            ));
            let sent = body(&request);
            assert_eq!(sent["Message"], "hello", "{format}");
            assert_eq!(sent[EVENT_TYPE_FIELD], "trackway.messages.test", "{format}");
        }
    }
}
