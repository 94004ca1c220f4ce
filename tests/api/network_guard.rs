//! The outbound network guard from outside: an IPv6 spelling of a loopback address (IPv4-
//! compatible, 6to4) is refused like the address itself unless it is allow-listed.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_settings, TestApp};

#[tokio::test]
async fn ipv6_spellings_of_loopback_are_refused() {
    let mut settings = fresh_settings();
    settings.delivery.allowed_networks = String::new();
    let app = TestApp::spawn_with(settings).await;
    let endpoints = [
        ("compatible", "http://[::127.0.0.1]/"),
        ("six-to-four", "http://[2002:7f00:1::]/"),
    ];
    for (id, endpoint) in endpoints {
        app.route(id, "OrderSubmitted", endpoint, "s").await;
    }
    let accepted = app
        .trigger(json!({"EventType": "OrderSubmitted", "ClientID": "storefront", "OrderID": "PO1"}))
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    app.deliver_all_due().await;
    for (id, endpoint) in endpoints {
        let list = app.get(&format!("/v1/deliveries?DeliveryConfigID={id}")).await;
        let delivery = app.delivery(list.body["Items"][0]["ID"].as_str().unwrap()).await;
        assert_eq!(
            delivery["Attempts"][0]["ErrorKind"], "ForbiddenAddress",
            "{endpoint}: {delivery}"
        );
        assert_eq!(delivery["Status"], "Failed", "{endpoint}: {delivery}");
        // A test send meets the same guard.
        let tested = app
            .post(&format!("/v1/integrations/deliveryconfig/{id}/test"), json!({}))
            .await;
        assert_eq!(
            tested.body[0]["ErrorKind"], "ForbiddenAddress",
            "{endpoint}: {:?}",
            tested.body
        );
    }
}
