//! DeliveryTargets: where one DeliveryConfig sends its events. [`DeliveryTargetsDoc`] is the
//! document shape (OrderCloud's field names, used on the wire and in storage); [`DeliveryTargets`]
//! is the validated form the delivery engine uses. Secrets are kept in the document as given and
//! only ever shown to API readers through [`DeliveryTargetsDoc::masked`]. Validating each kind
//! of target, field by field, is in `parse`; the choice of body for an Http target in
//! `payload_format`; the Http Secret's rotation in `rotation`.

mod kind;
mod parse;
mod payload_format;
mod rotation;
mod secrets;

pub use kind::{TargetKey, TargetKind};
pub use payload_format::PayloadFormat;
pub use rotation::{generate_secret, GracePeriod, PreviousSecret, RotationRefused, SecretRotation, SecretRotationDoc};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use super::validation::{Invalid, InvalidCode, Invalids};

/// What a secret reads as through the API. Sending it back unchanged keeps the stored secret.
pub const MASK: &str = "********";

/// Sitecore Send's tracker API, used when a SendEvent target names no `ServiceEndpoint`.
pub const SEND_DEFAULT_ENDPOINT: &str = "https://t.stat-track.com";
/// Segment's HTTP Tracking API, used when a Segment target names no `Endpoint`.
pub const SEGMENT_DEFAULT_ENDPOINT: &str = "https://api.segment.io";
/// Discover's event host: without a `ServiceEndpoint`, a DiscoverEvent target posts to
/// `{host}/event/{ClientID}/v4/publish`.
pub const DISCOVER_EVENT_HOST: &str = "https://discover.sitecorecloud.io";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeliveryTargetsDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTargetDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_event: Option<SendEventTargetDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discover_event: Option<DiscoverEventTargetDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentTargetDoc>,
}

/// A customer's HTTP endpoint, signed with `Secret` (Standard Webhooks and OrderCloud's X-oc-hash).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct HttpTargetDoc {
    pub endpoint: Option<String>,
    /// Write-only: reads show it masked.
    pub secret: Option<String>,
    pub custom_auth_header_name: Option<String>,
    /// Write-only: reads show it masked.
    pub custom_auth_header_value: Option<String>,
    /// The body sent: `Hydrated` (the default) or `OrderCloudMessage`. Reads show it only when
    /// it was given, so that configurations written before it read back unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PayloadFormat>)]
    pub payload_format: Option<String>,
    /// Read-only (ignored on writes), shown while a rotation is in progress: the Secret this one
    /// replaced still signs beside it until `PreviousExpiresAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotation: Option<SecretRotationDoc>,
}

/// Sitecore Send's website tracker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SendEventTargetDoc {
    /// The Send website ID (a UUID).
    #[serde(rename = "SiteID")]
    pub site_id: Option<String>,
    /// The tracker API; default `https://t.stat-track.com`.
    pub service_endpoint: Option<String>,
}

/// Sitecore Discover's events API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DiscoverEventTargetDoc {
    /// The Discover customer key.
    #[serde(rename = "ClientID")]
    pub client_id: Option<String>,
    /// Write-only: reads show it masked.
    pub api_key: Option<String>,
    /// The events URL; default `https://discover.sitecorecloud.io/event/{ClientID}/v4/publish`.
    pub service_endpoint: Option<String>,
}

/// Segment's HTTP Tracking API (a RudderStack data plane works the same).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct SegmentTargetDoc {
    /// Write-only: reads show it masked.
    pub write_key: Option<String>,
    pub endpoint: Option<String>,
}

/// The validated targets of one DeliveryConfig; at least one is set.
#[derive(Debug, Clone)]
pub struct DeliveryTargets {
    pub http: Option<HttpTarget>,
    pub send_event: Option<SendEventTarget>,
    pub discover_event: Option<DiscoverEventTarget>,
    pub segment: Option<SegmentTarget>,
}

#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub endpoint: Url,
    pub secret: Option<SecretString>,
    pub custom_auth_header: Option<CustomAuthHeader>,
    /// As given; `None` (not given) sends the default, [`PayloadFormat::Hydrated`], and keeps
    /// the stored document as it was.
    pub payload_format: Option<PayloadFormat>,
    /// The Secret this one replaced, while it signs beside it: only ever set from storage or by
    /// a rotation, never from a request.
    pub previous_secret: Option<PreviousSecret>,
}

impl HttpTarget {
    /// The body this target is sent.
    pub fn payload_format(&self) -> PayloadFormat {
        self.payload_format.unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct CustomAuthHeader {
    pub name: String,
    pub value: SecretString,
}

#[derive(Debug, Clone)]
pub struct SendEventTarget {
    pub site_id: Uuid,
    pub service_endpoint: Url,
}

#[derive(Debug, Clone)]
pub struct DiscoverEventTarget {
    pub client_id: String,
    pub api_key: SecretString,
    /// Given, or Discover's published event endpoint for the customer key (`ClientID`).
    pub service_endpoint: Url,
}

#[derive(Debug, Clone)]
pub struct SegmentTarget {
    pub write_key: SecretString,
    pub endpoint: Url,
}

impl DeliveryTargets {
    /// Validates a targets document; `field` is its path in the enclosing document.
    pub fn parse(field: &str, doc: &DeliveryTargetsDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let http = doc
            .http
            .as_ref()
            .and_then(|t| invalids.take(HttpTarget::parse(&format!("{field}.Http"), t)));
        let send_event = doc
            .send_event
            .as_ref()
            .and_then(|t| invalids.take(SendEventTarget::parse(&format!("{field}.SendEvent"), t)));
        let discover_event = doc
            .discover_event
            .as_ref()
            .and_then(|t| invalids.take(DiscoverEventTarget::parse(&format!("{field}.DiscoverEvent"), t)));
        let segment = doc
            .segment
            .as_ref()
            .and_then(|t| invalids.take(SegmentTarget::parse(&format!("{field}.Segment"), t)));
        let none_given =
            doc.http.is_none() && doc.send_event.is_none() && doc.discover_event.is_none() && doc.segment.is_none();
        if none_given {
            invalids.push(Invalid::new(
                InvalidCode::Required,
                field,
                format!("{field} must hold at least one of Http, SendEvent, DiscoverEvent, Segment."),
            ));
        }
        invalids.finish(|| DeliveryTargets {
            http,
            send_event,
            discover_event,
            segment,
        })
    }

    /// The kinds of target set, in a fixed order.
    pub fn kinds(&self) -> Vec<TargetKind> {
        TargetKind::present([
            self.http.is_some(),
            self.send_event.is_some(),
            self.discover_event.is_some(),
            self.segment.is_some(),
        ])
    }

    /// The document to store: secrets in clear (storage is the only reader of this form).
    pub fn to_doc(&self) -> DeliveryTargetsDoc {
        DeliveryTargetsDoc {
            http: self.http.as_ref().map(|t| HttpTargetDoc {
                endpoint: Some(t.endpoint.to_string()),
                secret: t.secret.as_ref().map(|s| s.expose_secret().to_owned()),
                custom_auth_header_name: t.custom_auth_header.as_ref().map(|h| h.name.clone()),
                custom_auth_header_value: t
                    .custom_auth_header
                    .as_ref()
                    .map(|h| h.value.expose_secret().to_owned()),
                payload_format: t.payload_format.map(|f| f.as_str().to_owned()),
                secret_rotation: t.previous_secret.as_ref().map(PreviousSecret::to_doc),
            }),
            send_event: self.send_event.as_ref().map(|t| SendEventTargetDoc {
                site_id: Some(t.site_id.to_string()),
                service_endpoint: Some(t.service_endpoint.to_string()),
            }),
            discover_event: self.discover_event.as_ref().map(|t| DiscoverEventTargetDoc {
                client_id: Some(t.client_id.clone()),
                api_key: Some(t.api_key.expose_secret().to_owned()),
                // The default is not kept: it follows the ClientID if that changes.
                service_endpoint: Some(t.service_endpoint.to_string())
                    .filter(|_| t.service_endpoint != parse::discover_event_endpoint(&t.client_id)),
            }),
            segment: self.segment.as_ref().map(|t| SegmentTargetDoc {
                write_key: Some(t.write_key.expose_secret().to_owned()),
                endpoint: Some(t.endpoint.to_string()),
            }),
        }
    }
}

impl DeliveryTargetsDoc {
    /// The kinds of target this document holds, in a fixed order.
    pub fn kinds(&self) -> Vec<TargetKind> {
        TargetKind::present([
            self.http.is_some(),
            self.send_event.is_some(),
            self.discover_event.is_some(),
            self.segment.is_some(),
        ])
    }
}

#[cfg(test)]
mod tests;
