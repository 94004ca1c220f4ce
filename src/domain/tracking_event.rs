//! TrackingEvent: "send events of this type, from this API client, to that DeliveryConfig".

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::delivery_config::id_matching_path;
use super::event_type::EventType;
use super::id::ResourceId;
use super::validation::{required_text, Invalid, InvalidCode, Invalids};

const MAX_NAME_LEN: usize = 100;

/// A TrackingEvent as clients write and read it (all fields optional here; see
/// [`TrackingEvent::parse`] for what is required).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TrackingEventDoc {
    /// Client-chosen ID (≤100 of `[A-Za-z0-9_.-]`); generated when omitted.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// Required.
    pub name: Option<String>,
    /// Required: one of the EventType values.
    #[schema(value_type = Option<EventType>)]
    pub event_type: Option<String>,
    /// Required: the API client (storefront) whose triggers this TrackingEvent matches.
    #[serde(rename = "ClientID")]
    pub client_id: Option<String>,
    /// Required: the DeliveryConfig that receives the events; it must exist.
    #[serde(rename = "DeliveryConfigID")]
    pub delivery_config_id: Option<String>,
    /// Free-form JSON passed through in every hydrated payload of this TrackingEvent. One key
    /// is Trackway's: `EventNames`, an object renaming the event per target — `Segment` (the
    /// track event), `SendEvent` (the actionType), `Http` (the `sitecore-event-type`) — e.g.
    /// `{"EventNames": {"Segment": "edx.bi.ecommerce.payment_completed"}}`.
    #[schema(value_type = Option<Object>)]
    pub config_data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrackingEvent {
    pub id: ResourceId,
    pub name: String,
    pub event_type: EventType,
    pub client_id: ResourceId,
    pub delivery_config_id: ResourceId,
    pub config_data: Option<Value>,
}

impl TrackingEvent {
    /// Parses a document; `path_id` as in [`crate::domain::DeliveryConfig::parse`].
    pub fn parse(doc: &TrackingEventDoc, path_id: Option<&ResourceId>) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let id = invalids.take(match path_id {
            Some(path_id) => id_matching_path(doc.id.as_deref(), path_id),
            None => ResourceId::parse_or_generate("ID", doc.id.as_deref()),
        });
        let name = invalids.take(required_text("Name", doc.name.as_deref(), MAX_NAME_LEN));
        let event_type = invalids.take(
            doc.event_type
                .as_deref()
                .ok_or_else(|| Invalid::required("EventType"))
                .and_then(|t| EventType::parse("EventType", t)),
        );
        let client_id = invalids.take(required_id("ClientID", doc.client_id.as_deref()));
        let delivery_config_id = invalids.take(required_id("DeliveryConfigID", doc.delivery_config_id.as_deref()));
        if let (Some(event_type), Some(config_data)) = (event_type, &doc.config_data) {
            invalids.extend(check_event_names(event_type, config_data));
        }
        invalids.finish(|| TrackingEvent {
            id: id.expect("checked by finish"),
            name: name.expect("checked by finish"),
            event_type: event_type.expect("checked by finish"),
            client_id: client_id.expect("checked by finish"),
            delivery_config_id: delivery_config_id.expect("checked by finish"),
            config_data: doc.config_data.clone().filter(|v| !v.is_null()),
        })
    }

    pub fn to_doc(&self) -> TrackingEventDoc {
        TrackingEventDoc {
            id: Some(self.id.to_string()),
            name: Some(self.name.clone()),
            event_type: Some(self.event_type.to_string()),
            client_id: Some(self.client_id.to_string()),
            delivery_config_id: Some(self.delivery_config_id.to_string()),
            config_data: self.config_data.clone(),
        }
    }
}

/// `ConfigData.EventNames`, when given: an object whose keys are targets that name events and
/// whose values are the names. Refused here, not at delivery: a target whose vocabulary is fixed
/// (DiscoverEvent), a call that has no event name (a login's identify on Segment and Send), or
/// a name the mapping picks by the change (LineItemUpdated on Segment: Product Added or
/// Removed).
fn check_event_names(event_type: EventType, config_data: &Value) -> Invalids {
    let mut invalids = Invalids::default();
    let Some(names) = config_data.get("EventNames") else {
        return invalids;
    };
    let Some(names) = names.as_object() else {
        invalids.push(Invalid::new(
            InvalidCode::InvalidValue,
            "ConfigData.EventNames",
            "ConfigData.EventNames must be an object of target names (Http, SendEvent, Segment) to event names.",
        ));
        return invalids;
    };
    for (target, name) in names {
        let field = format!("ConfigData.EventNames.{target}");
        let refused = match (target.as_str(), event_type) {
            ("Segment" | "SendEvent", EventType::UserLoggedIn) => Some(format!(
                "{field}: a login is an identify call, which has no event name."
            )),
            ("Segment", EventType::LineItemUpdated) => Some(format!(
                "{field}: a LineItemUpdated is sent to Segment as Product Added or Product Removed, by the change."
            )),
            ("DiscoverEvent", _) => Some(format!("{field}: Sitecore Discover's event types are fixed.")),
            ("Http" | "SendEvent" | "Segment", _) => None,
            _ => {
                let mut invalid = Invalid::new(
                    InvalidCode::InvalidValue,
                    &field,
                    format!("{field}: {target:?} is not a target that names events (Http, SendEvent, Segment)."),
                );
                invalid.allowed = Some(EVENT_NAMING_TARGETS.map(str::to_owned).to_vec());
                invalids.push(invalid);
                continue;
            }
        };
        if let Some(message) = refused {
            invalids.push(Invalid::new(InvalidCode::InvalidValue, &field, message));
            continue;
        }
        // The Http name travels in a header: visible ASCII only.
        let fits = |c: char| {
            if target == "Http" {
                c.is_ascii_graphic()
            } else {
                !c.is_control()
            }
        };
        let well_formed = name
            .as_str()
            .is_some_and(|n| !n.trim().is_empty() && n.chars().count() <= MAX_EVENT_NAME_LEN && n.chars().all(fits));
        if !well_formed {
            let what = if target == "Http" {
                "visible ASCII characters (it is sent in a header)"
            } else {
                "printable characters"
            };
            invalids.push(Invalid::new(
                InvalidCode::InvalidValue,
                &field,
                format!("{field} must be a string of 1 to {MAX_EVENT_NAME_LEN} {what}."),
            ));
        }
    }
    invalids
}

const EVENT_NAMING_TARGETS: [&str; 3] = ["Http", "SendEvent", "Segment"];
const MAX_EVENT_NAME_LEN: usize = 200;

fn required_id(field: &str, value: Option<&str>) -> Result<ResourceId, Invalid> {
    ResourceId::parse(field, value.ok_or_else(|| Invalid::required(field))?)
}

/// The ErrorConfig singleton: which DeliveryConfig receives failure notices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ErrorConfigDoc {
    /// Required; the DeliveryConfig must exist.
    #[serde(rename = "DeliveryConfigID")]
    pub delivery_config_id: Option<String>,
}

impl ErrorConfigDoc {
    pub fn parse(&self) -> Result<ResourceId, Invalids> {
        required_id("DeliveryConfigID", self.delivery_config_id.as_deref()).map_err(Invalids::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> TrackingEventDoc {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn parses_a_complete_tracking_event() {
        let event = TrackingEvent::parse(
            &doc(
                json!({"Name":"Orders","EventType":"OrderSubmitted","ClientID":"storefront",
                        "DeliveryConfigID":"cfg","ConfigData":{"a":1}}),
            ),
            None,
        )
        .unwrap();
        assert_eq!(event.event_type, EventType::OrderSubmitted);
        assert_eq!(event.config_data, Some(json!({"a":1})));
        assert_eq!(event.to_doc().event_type.as_deref(), Some("OrderSubmitted"));
    }

    #[test]
    fn reports_every_missing_and_bad_field() {
        let err = TrackingEvent::parse(&doc(json!({"EventType":"Shipped","ClientID":"bad id"})), None).unwrap_err();
        let got: Vec<(InvalidCode, String)> = err.0.into_iter().map(|i| (i.code, i.field)).collect();
        assert_eq!(
            got,
            [
                (InvalidCode::Required, "Name".to_owned()),
                (InvalidCode::InvalidEventType, "EventType".to_owned()),
                (InvalidCode::InvalidId, "ClientID".to_owned()),
                (InvalidCode::Required, "DeliveryConfigID".to_owned()),
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_the_document_type() {
        let err = serde_json::from_value::<TrackingEventDoc>(json!({"Nmae":"x"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `Nmae`"), "{err}");
    }

    #[test]
    fn event_names_in_config_data_are_checked_against_the_event_type() {
        let fields = |event_type: &str, config_data: Value| -> Vec<String> {
            let doc = TrackingEventDoc {
                name: Some("n".into()),
                event_type: Some(event_type.into()),
                client_id: Some("c".into()),
                delivery_config_id: Some("d".into()),
                config_data: Some(config_data),
                ..Default::default()
            };
            match TrackingEvent::parse(&doc, None) {
                Ok(_) => Vec::new(),
                Err(invalids) => invalids.0.into_iter().map(|i| i.field).collect(),
            }
        };
        let names = |names: Value| json!({"EventNames": names, "Other": 1});
        assert!(fields(
            "PaymentCaptured",
            names(json!({"Segment": "edx.bi.ecommerce.payment_completed",
            "SendEvent": "PAYMENT", "Http": "acme.payments.captured"}))
        )
        .is_empty());
        assert!(fields("UserLoggedIn", json!({"anything": "else"})).is_empty());
        assert!(fields("UserLoggedIn", names(json!({"Http": "acme.login"}))).is_empty());
        assert_eq!(
            fields("UserLoggedIn", names(json!({"Segment": "Login", "SendEvent": "LOGIN"}))),
            ["ConfigData.EventNames.Segment", "ConfigData.EventNames.SendEvent"]
        );
        assert_eq!(
            fields("LineItemUpdated", names(json!({"Segment": "Cart Changed"}))),
            ["ConfigData.EventNames.Segment"]
        );
        assert_eq!(
            fields(
                "OrderSubmitted",
                names(json!({"DiscoverEvent": "x", "Kafka": "y", "Http": "has space",
                "Segment": "", "SendEvent": 7}))
            ),
            [
                "ConfigData.EventNames.DiscoverEvent",
                "ConfigData.EventNames.Http",
                "ConfigData.EventNames.Kafka",
                "ConfigData.EventNames.Segment",
                "ConfigData.EventNames.SendEvent"
            ]
        );
        assert_eq!(
            fields("OrderSubmitted", names(json!("Segment"))),
            ["ConfigData.EventNames"]
        );
    }
}
