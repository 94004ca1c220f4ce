//! The body an Http target receives: Trackway's hydrated payload (the default, so that a
//! DeliveryConfig written before the choice existed keeps receiving what it always did), or
//! OrderCloud's flat message models, so that a receiver written against OrderCloud's Tracking
//! Events works unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::validation::{Invalid, InvalidCode};

/// The body an Http target is sent: `Hydrated`, the hydrated payload (the default), or
/// `OrderCloudMessage`, OrderCloud's flat message model for the event (`sessions.identified`,
/// `orders.lines.added`/`updated`, `orders.submitted`; ProductViewed is skipped). Both carry
/// `SitecoreEventType`, the event's name, as does the `sitecore-event-type` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PayloadFormat {
    /// The hydrated payload: the event with its Order, LineItems, Products, User and
    /// TrackingEvent, as OrderCloud's REST models.
    #[default]
    Hydrated,
    /// OrderCloud's message for the event (`sessions.identified`, `orders.lines.added` /
    /// `updated`, `orders.submitted`), flat as OrderCloud documents it.
    OrderCloudMessage,
}

impl PayloadFormat {
    pub const ALL: [PayloadFormat; 2] = [PayloadFormat::Hydrated, PayloadFormat::OrderCloudMessage];

    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Hydrated => "Hydrated",
            PayloadFormat::OrderCloudMessage => "OrderCloudMessage",
        }
    }

    /// Parses the field at `field`; absent or blank is `None` (the default applies). The error
    /// lists the allowed values.
    pub fn parse(field: &str, value: Option<&str>) -> Result<Option<Self>, Invalid> {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        // Exact match, as for EventType: OrderCloud's enum values are case-sensitive.
        PayloadFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == value)
            .map(Some)
            .ok_or_else(|| {
                let allowed = PayloadFormat::ALL.map(PayloadFormat::as_str);
                Invalid::not_one_of(InvalidCode::InvalidValue, field, value, "a payload format", &allowed)
            })
    }
}

impl fmt::Display for PayloadFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_parses_by_its_name_and_absent_is_the_default() {
        for format in PayloadFormat::ALL {
            assert_eq!(PayloadFormat::parse("F", Some(format.as_str())), Ok(Some(format)));
            assert_eq!(serde_json::to_value(format).unwrap(), format.as_str());
        }
        assert_eq!(PayloadFormat::parse("F", None), Ok(None));
        assert_eq!(PayloadFormat::parse("F", Some("")), Ok(None));
        assert_eq!(PayloadFormat::default(), PayloadFormat::Hydrated);
    }

    #[test]
    fn an_unknown_format_names_the_field_and_lists_the_allowed_ones() {
        for value in ["Flat", "ordercloudmessage", " Hydrated"] {
            let err = PayloadFormat::parse("DeliveryTargets.Http.PayloadFormat", Some(value)).unwrap_err();
            assert_eq!(err.code, InvalidCode::InvalidValue);
            assert_eq!(err.field, "DeliveryTargets.Http.PayloadFormat");
            assert_eq!(err.allowed.unwrap(), ["Hydrated", "OrderCloudMessage"]);
            assert!(err.message.contains("OrderCloudMessage"), "{}", err.message);
        }
    }

    #[test]
    fn the_stored_document_keeps_the_format_only_when_given() {
        use crate::domain::targets::{DeliveryTargets, DeliveryTargetsDoc};
        let stored = |format: Option<&str>| {
            let doc: DeliveryTargetsDoc = serde_json::from_value(serde_json::json!({
                "Http": {"Endpoint": "https://x.test/h", "PayloadFormat": format}
            }))
            .unwrap();
            let targets = DeliveryTargets::parse("DeliveryTargets", &doc).unwrap();
            let format = targets.http.as_ref().map(|h| h.payload_format());
            (format, serde_json::to_value(targets.to_doc()).unwrap())
        };
        let (format, doc) = stored(None);
        assert_eq!(format, Some(PayloadFormat::Hydrated));
        assert!(doc["Http"].get("PayloadFormat").is_none(), "{doc}");
        let (format, doc) = stored(Some("Hydrated"));
        assert_eq!(format, Some(PayloadFormat::Hydrated));
        assert_eq!(doc["Http"]["PayloadFormat"], "Hydrated");
        let (format, doc) = stored(Some("OrderCloudMessage"));
        assert_eq!(format, Some(PayloadFormat::OrderCloudMessage));
        assert_eq!(doc["Http"]["PayloadFormat"], "OrderCloudMessage");
    }
}
