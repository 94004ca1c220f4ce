//! TrackingEvent: "send events of this type, from this API client, to that DeliveryConfig".

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::delivery_config::id_matching_path;
use super::event_type::EventType;
use super::id::ResourceId;
use super::validation::{required_text, Invalid, Invalids};

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
    /// Free-form JSON passed through in every hydrated payload of this TrackingEvent.
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
    use crate::domain::InvalidCode;
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
}
