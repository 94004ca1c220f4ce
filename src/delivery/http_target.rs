//! The Http target: the hydrated payload as JSON, POSTed to the endpoint, signed the Standard
//! Webhooks way (`webhook-id` = the delivery ID, stable across retries; `webhook-timestamp` of
//! the attempt; `webhook-signature`) and the OrderCloud way (`X-oc-hash`), plus the optional
//! custom auth header.

use secrecy::ExposeSecret;

use super::client::PreparedRequest;
use crate::domain::signing::{ordercloud_hash, standard_webhooks_signature};
use crate::domain::targets::HttpTarget;

/// Builds the request for one attempt at `timestamp` (unix seconds).
pub fn prepare(target: &HttpTarget, delivery_id: &str, timestamp: i64, body: Vec<u8>) -> PreparedRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), delivery_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
    ];
    if let Some(secret) = &target.secret {
        let secret = secret.expose_secret();
        headers.push((
            "webhook-signature".to_owned(),
            standard_webhooks_signature(secret, delivery_id, timestamp, &body),
        ));
        headers.push(("x-oc-hash".to_owned(), ordercloud_hash(secret, &body)));
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
    use crate::domain::targets::CustomAuthHeader;
    use secrecy::SecretString;

    fn header<'a>(request: &'a PreparedRequest, name: &str) -> Option<&'a str> {
        request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_signed_request_verifies_both_ways() {
        let target = HttpTarget {
            endpoint: "https://hooks.example.com/x".parse().unwrap(),
            secret: Some(SecretString::from("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")),
            custom_auth_header: Some(CustomAuthHeader {
                name: "X-Api-Key".into(),
                value: SecretString::from("k"),
            }),
        };
        let body = br#"{"ID":"evt_1"}"#.to_vec();
        let request = prepare(&target, "dlv_1", 1_700_000_000, body.clone());
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(header(&request, "webhook-id"), Some("dlv_1"));
        assert_eq!(header(&request, "webhook-timestamp"), Some("1700000000"));
        assert_eq!(header(&request, "X-Api-Key"), Some("k"));
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let signature = header(&request, "webhook-signature").unwrap();
        assert!(verify_standard_webhooks(
            secret,
            "dlv_1",
            1_700_000_000,
            &body,
            signature
        ));
        assert!(verify_ordercloud_hash(
            secret,
            &body,
            header(&request, "x-oc-hash").unwrap()
        ));
        assert_eq!(request.body, body);
    }

    #[test]
    fn without_a_secret_nothing_is_signed() {
        let target = HttpTarget {
            endpoint: "https://hooks.example.com/x".parse().unwrap(),
            secret: None,
            custom_auth_header: None,
        };
        let request = prepare(&target, "dlv_1", 1, b"{}".to_vec());
        assert_eq!(header(&request, "webhook-signature"), None);
        assert_eq!(header(&request, "x-oc-hash"), None);
        assert_eq!(header(&request, "webhook-id"), Some("dlv_1"));
    }
}
