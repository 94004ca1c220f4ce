//! Validation of each kind of target, field by field: what [`DeliveryTargets::parse`] builds
//! its validated targets with.

use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

#[cfg(doc)]
use super::DeliveryTargets;
use super::{
    CustomAuthHeader, DiscoverEventTarget, DiscoverEventTargetDoc, HttpTarget, HttpTargetDoc, PayloadFormat,
    SegmentTarget, SegmentTargetDoc, SendEventTarget, SendEventTargetDoc, DISCOVER_EVENT_HOST, MASK,
    SEGMENT_DEFAULT_ENDPOINT, SEND_DEFAULT_ENDPOINT,
};
use crate::domain::validation::{optional_text, required_text, Invalid, InvalidCode, Invalids};

const MAX_SECRET_LEN: usize = 512;
const MAX_FIELD_LEN: usize = 200;
const MAX_URL_LEN: usize = 2048;

/// Header names a custom auth header may not take: they carry the body, the signature or the
/// connection, or name the event, and letting a config override them would break delivery,
/// signing or a receiver's routing.
const RESERVED_HEADERS: [&str; 10] = [
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-oc-hash",
    "sitecore-event-type",
];

impl HttpTarget {
    pub(super) fn parse(field: &str, doc: &HttpTargetDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let endpoint = invalids.take(required_url(&format!("{field}.Endpoint"), doc.endpoint.as_deref()));
        let secret = invalids.take(optional_secret(&format!("{field}.Secret"), doc.secret.as_deref()));
        let custom_auth_header = invalids.take(CustomAuthHeader::parse(field, doc));
        let payload_format = invalids.take(PayloadFormat::parse(
            &format!("{field}.PayloadFormat"),
            doc.payload_format.as_deref(),
        ));
        invalids.finish(|| HttpTarget {
            endpoint: endpoint.expect("checked by finish"),
            secret: secret.flatten(),
            custom_auth_header: custom_auth_header.flatten(),
            payload_format: payload_format.flatten(),
            // Never from the document: a request may carry a SecretRotation, which is read-only.
            // Storage's is restored by `DeliveryTargets::restore_rotation`.
            previous_secret: None,
        })
    }
}

impl CustomAuthHeader {
    pub(super) fn parse(field: &str, doc: &HttpTargetDoc) -> Result<Option<Self>, Invalid> {
        let name_field = format!("{field}.CustomAuthHeaderName");
        let value_field = format!("{field}.CustomAuthHeaderValue");
        let name = optional_text(&name_field, doc.custom_auth_header_name.as_deref(), MAX_FIELD_LEN)?;
        let value = optional_secret(&value_field, doc.custom_auth_header_value.as_deref())?;
        match (name, value) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Invalid::new(
                InvalidCode::Required,
                &value_field,
                format!("{value_field} is required when {name_field} is set."),
            )),
            (None, Some(_)) => Err(Invalid::new(
                InvalidCode::Required,
                &name_field,
                format!("{name_field} is required when {value_field} is set."),
            )),
            (Some(name), Some(value)) => {
                if !name.bytes().all(is_header_token_byte) {
                    return Err(Invalid::new(
                        InvalidCode::InvalidValue,
                        &name_field,
                        format!("{name_field} must be a valid HTTP header name."),
                    ));
                }
                if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(Invalid::new(
                        InvalidCode::InvalidValue,
                        &name_field,
                        format!("{name_field} may not be {name:?}: Trackway sets that header itself."),
                    ));
                }
                if !value
                    .expose_secret()
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
                {
                    return Err(Invalid::new(
                        InvalidCode::InvalidValue,
                        &value_field,
                        format!("{value_field} must be printable ASCII."),
                    ));
                }
                Ok(Some(CustomAuthHeader { name, value }))
            }
        }
    }
}

impl SendEventTarget {
    pub(super) fn parse(field: &str, doc: &SendEventTargetDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let site_field = format!("{field}.SiteID");
        let site_id = invalids.take(
            required_text(&site_field, doc.site_id.as_deref(), MAX_FIELD_LEN).and_then(|s| {
                Uuid::parse_str(&s).map_err(|_| {
                    Invalid::new(
                        InvalidCode::InvalidValue,
                        &site_field,
                        format!("{site_field} must be a UUID (the Sitecore Send website ID)."),
                    )
                })
            }),
        );
        let service_endpoint = invalids.take(optional_url(
            &format!("{field}.ServiceEndpoint"),
            doc.service_endpoint.as_deref(),
        ));
        invalids.finish(|| SendEventTarget {
            site_id: site_id.expect("checked by finish"),
            service_endpoint: service_endpoint
                .flatten()
                .unwrap_or_else(|| Url::parse(SEND_DEFAULT_ENDPOINT).expect("constant URL")),
        })
    }
}

impl DiscoverEventTarget {
    pub(super) fn parse(field: &str, doc: &DiscoverEventTargetDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let client_id = invalids.take(required_text(
            &format!("{field}.ClientID"),
            doc.client_id.as_deref(),
            MAX_FIELD_LEN,
        ));
        let api_key = invalids.take(required_secret(&format!("{field}.ApiKey"), doc.api_key.as_deref()));
        let service_endpoint = invalids.take(optional_url(
            &format!("{field}.ServiceEndpoint"),
            doc.service_endpoint.as_deref(),
        ));
        let is_customer_key = |key: &str| {
            key.split_once('-').is_some_and(|(account, domain)| {
                [account, domain]
                    .iter()
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
            })
        };
        if let (Some(key), Some(None)) = (&client_id, &service_endpoint) {
            if !is_customer_key(key) {
                let field = format!("{field}.ClientID");
                invalids.push(Invalid::new(
                    InvalidCode::InvalidValue,
                    &field,
                    format!(
                        "{field} must be the customer key, <accountID>-<domainID>, for the default \
                         ServiceEndpoint to be built from it; or give ServiceEndpoint."
                    ),
                ));
            }
        }
        invalids.finish(|| {
            let client_id = client_id.expect("checked by finish");
            let service_endpoint = service_endpoint
                .flatten()
                .unwrap_or_else(|| discover_event_endpoint(&client_id));
            DiscoverEventTarget {
                client_id,
                api_key: api_key.expect("checked by finish"),
                service_endpoint,
            }
        })
    }
}

impl SegmentTarget {
    pub(super) fn parse(field: &str, doc: &SegmentTargetDoc) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let write_key = invalids.take(required_secret(&format!("{field}.WriteKey"), doc.write_key.as_deref()));
        let endpoint = invalids.take(optional_url(&format!("{field}.Endpoint"), doc.endpoint.as_deref()));
        invalids.finish(|| SegmentTarget {
            write_key: write_key.expect("checked by finish"),
            endpoint: endpoint
                .flatten()
                .unwrap_or_else(|| Url::parse(SEGMENT_DEFAULT_ENDPOINT).expect("constant URL")),
        })
    }
}

/// Discover's published event endpoint for a customer key: `DISCOVER_EVENT_HOST` +
/// `/event/<ckey>/v4/publish`, the key as one path segment (percent-encoded if need be).
pub(super) fn discover_event_endpoint(customer_key: &str) -> Url {
    let mut url = Url::parse(DISCOVER_EVENT_HOST).expect("constant URL");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .extend(["event", customer_key, "v4", "publish"]);
    url
}

/// RFC 9110 `tchar`: the bytes a header name may contain.
fn is_header_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn required_secret(field: &str, value: Option<&str>) -> Result<SecretString, Invalid> {
    optional_secret(field, value)?.ok_or_else(|| Invalid::required(field))
}

pub(super) fn optional_secret(field: &str, value: Option<&str>) -> Result<Option<SecretString>, Invalid> {
    match value {
        None | Some("") => Ok(None),
        Some(MASK) => Err(Invalid::new(
            InvalidCode::InvalidValue,
            field,
            format!("{field} is masked ({MASK}) but no secret is stored to keep; send the secret itself."),
        )),
        Some(secret) if secret.len() > MAX_SECRET_LEN => Err(Invalid::new(
            InvalidCode::InvalidValue,
            field,
            format!("{field} must be at most {MAX_SECRET_LEN} bytes."),
        )),
        Some(secret) => Ok(Some(SecretString::from(secret.to_owned()))),
    }
}

fn required_url(field: &str, value: Option<&str>) -> Result<Url, Invalid> {
    optional_url(field, value)?.ok_or_else(|| Invalid::required(field))
}

/// An absolute `http`/`https` URL with a host and no credentials in it.
fn optional_url(field: &str, value: Option<&str>) -> Result<Option<Url>, Invalid> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        Invalid::new(
            InvalidCode::InvalidUrl,
            field,
            format!("{field} must be an absolute http or https URL: {why}."),
        )
    };
    if text.len() > MAX_URL_LEN {
        return Err(invalid(&format!("longer than {MAX_URL_LEN} characters")));
    }
    let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!("scheme {:?} is not http or https", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in Secret or CustomAuthHeaderValue, not the URL",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("it has a #fragment, which is never sent"));
    }
    Ok(Some(url))
}
