use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn ids(body: &Value) -> Vec<&str> {
    body["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ID"].as_str().unwrap())
        .collect()
}

async fn app_with_events() -> TestApp {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    app.create_delivery_config("other").await;
    for (id, event_type, config) in [
        ("e1", "OrderSubmitted", "hooks"),
        ("e2", "LineItemAdded", "hooks"),
        ("e3", "LineItemUpdated", "other"),
        ("e4", "UserLoggedIn", "hooks"),
        ("e5", "OrderSubmitted", "other"),
    ] {
        app.create_tracking_event(id, event_type, config).await;
    }
    app
}

#[tokio::test]
async fn pages_carry_ordercloud_meta() {
    let app = app_with_events().await;
    let reply = app.get("/v1/integrations/trackingEvents?pageSize=2&page=2").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body["Meta"],
        json!({"Page": 2, "PageSize": 2, "TotalCount": 5, "TotalPages": 3, "ItemRange": [3, 4]})
    );
    assert_eq!(ids(&reply.body), ["e3", "e4"]);
    let past_the_end = app.get("/v1/integrations/trackingEvents?pageSize=2&page=9").await;
    assert_eq!(past_the_end.body["Meta"]["TotalCount"], 5);
    assert_eq!(past_the_end.body["Meta"]["ItemRange"], json!([0, 0]));
    assert!(ids(&past_the_end.body).is_empty());
}

#[tokio::test]
async fn page_size_is_capped_at_100() {
    let app = TestApp::spawn().await;
    for query in ["pageSize=101", "pageSize=0", "page=0", "page=abc"] {
        let reply = app.get(&format!("/v1/integrations/trackingEvents?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_code(), "InvalidQueryParameter", "{query}");
    }
    assert_eq!(
        app.get("/v1/integrations/trackingEvents?pageSize=100").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn filters_take_wildcards_negation_and_alternatives() {
    let app = app_with_events().await;
    let cases = [
        ("EventType=OrderSubmitted", vec!["e1", "e5"]),
        ("eventtype=ordersubmitted", vec!["e1", "e5"]),
        ("EventType=LineItem*", vec!["e2", "e3"]),
        ("EventType=!OrderSubmitted", vec!["e2", "e3", "e4"]),
        ("EventType=UserLoggedIn|LineItemAdded", vec!["e2", "e4"]),
        ("EventType=LineItem*|!LineItemAdded", vec!["e3"]),
        ("DeliveryConfigID=other&EventType=OrderSubmitted", vec!["e5"]),
        ("ID=e_", vec![]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/v1/integrations/trackingEvents?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}");
        assert_eq!(ids(&reply.body), expected, "{query}");
    }
}

#[tokio::test]
async fn search_and_sort() {
    let app = app_with_events().await;
    let reply = app.get("/v1/integrations/trackingEvents?sortBy=!ID").await;
    assert_eq!(ids(&reply.body), ["e5", "e4", "e3", "e2", "e1"]);
    let reply = app.get("/v1/integrations/trackingEvents?sortBy=EventType,!ID").await;
    assert_eq!(ids(&reply.body), ["e2", "e3", "e5", "e1", "e4"]);
    let reply = app.get("/v1/integrations/trackingEvents?search=EVENT%20E3").await;
    assert_eq!(ids(&reply.body), ["e3"]);
    let reply = app
        .get("/v1/integrations/trackingEvents?search=line&searchOn=EventType")
        .await;
    assert_eq!(ids(&reply.body), ["e2", "e3"]);
    let reply = app.get("/v1/integrations/trackingEvents?search=line").await;
    assert!(ids(&reply.body).is_empty(), "Name and ID are searched by default");
}

#[tokio::test]
async fn unknown_fields_in_list_options_are_rejected() {
    let app = app_with_events().await;
    for query in ["Colour=red", "sortBy=Colour", "searchOn=Colour&search=x"] {
        let reply = app.get(&format!("/v1/integrations/trackingEvents?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_code(), "InvalidQueryParameter");
        assert!(reply.body["Errors"][0]["Data"]["Allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("EventType")));
    }
}

#[tokio::test]
async fn delivery_configs_filter_on_enabled_and_endpoint_and_stay_masked() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("a").await;
    app.create_delivery_config("b").await;
    app.patch(
        "/v1/integrations/deliveryconfig/b",
        json!({"Enabled": false, "DeliveryTargets": {"Http": {"Endpoint": "https://b.example.org/x"}}}),
    )
    .await;
    let reply = app.get("/v1/integrations/deliveryconfig?Enabled=false").await;
    assert_eq!(ids(&reply.body), ["b"]);
    let reply = app
        .get("/v1/integrations/deliveryconfig?DeliveryTargets.Http.Endpoint=*example.org*")
        .await;
    assert_eq!(ids(&reply.body), ["b"]);
    let reply = app.get("/v1/integrations/deliveryconfig").await;
    assert_eq!(ids(&reply.body), ["a", "b"]);
    assert!(!reply.body.to_string().contains("s3cret"));
    assert_eq!(reply.body["Items"][0]["DeliveryTargets"]["Http"]["Secret"], "********");
    let reply = app.get("/v1/integrations/deliveryconfig?Enabled=maybe").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}
