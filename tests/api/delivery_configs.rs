use reqwest::{Method, StatusCode};
use serde_json::json;
use trackway::domain::Role;

use crate::helpers::TestApp;

const PATH: &str = "/v1/integrations/deliveryconfig";

fn http_config(id: &str) -> serde_json::Value {
    json!({
        "ID": id,
        "Name": "Order webhooks",
        "Enabled": true,
        "DeliveryTargets": {"Http": {
            "Endpoint": "https://hooks.example.com/orders",
            "Secret": "s3cret",
            "CustomAuthHeaderName": "X-Api-Key",
            "CustomAuthHeaderValue": "k3y"
        }}
    })
}

#[tokio::test]
async fn create_returns_201_with_location_and_masked_secrets() {
    let app = TestApp::spawn().await;
    let reply = app.post(PATH, http_config("orders")).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.headers["location"], "/v1/integrations/deliveryconfig/orders");
    let http = &reply.body["DeliveryTargets"]["Http"];
    assert_eq!(http["Endpoint"], "https://hooks.example.com/orders");
    assert_eq!(http["Secret"], "********");
    assert_eq!(http["CustomAuthHeaderValue"], "********");
    assert_eq!(reply.body["DeliveryPolicy"]["TimeoutSeconds"], 15);
    assert_eq!(
        reply.body["DeliveryPolicy"]["RetrySchedule"].as_array().unwrap().len(),
        9
    );

    let fetched = app.get(&format!("{PATH}/orders")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, reply.body);
    assert!(!fetched.body.to_string().contains("s3cret"));
    assert!(!fetched.body.to_string().contains("k3y"));
}

#[tokio::test]
async fn secrets_are_stored_as_given() {
    let app = TestApp::spawn().await;
    app.post(PATH, http_config("orders")).await;
    let secret: String =
        sqlx::query_scalar("SELECT targets->'Http'->>'Secret' FROM delivery_configs WHERE id = 'orders'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(secret, "s3cret");
}

#[tokio::test]
async fn create_without_id_generates_one() {
    let app = TestApp::spawn().await;
    let mut body = http_config("x");
    body.as_object_mut().unwrap().remove("ID");
    let reply = app.post(PATH, body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let id = reply.body["ID"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(app.get(&format!("{PATH}/{id}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn create_with_an_existing_id_is_409() {
    let app = TestApp::spawn().await;
    app.post(PATH, http_config("orders")).await;
    let reply = app.post(PATH, http_config("orders")).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "IdExists");
    assert_eq!(reply.body["Errors"][0]["Data"]["ObjectID"], "orders");
}

#[tokio::test]
async fn put_creates_then_replaces() {
    let app = TestApp::spawn().await;
    let created = app.put(&format!("{PATH}/orders"), http_config("orders")).await;
    assert_eq!(created.status, StatusCode::CREATED);

    let replacement = json!({"Name": "Segment only", "DeliveryTargets": {"Segment": {"WriteKey": "wk"}}});
    let replaced = app.put(&format!("{PATH}/orders"), replacement).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["ID"], "orders");
    assert_eq!(replaced.body["Name"], "Segment only");
    assert!(replaced.body["DeliveryTargets"].get("Http").is_none());
    assert_eq!(replaced.body["DeliveryTargets"]["Segment"]["WriteKey"], "********");
    assert_eq!(
        replaced.body["DeliveryTargets"]["Segment"]["Endpoint"],
        "https://api.segment.io/"
    );
}

#[tokio::test]
async fn put_of_a_fetched_document_keeps_its_secrets() {
    let app = TestApp::spawn().await;
    app.post(PATH, http_config("orders")).await;
    let mut fetched = app.get(&format!("{PATH}/orders")).await.body;
    fetched["Name"] = json!("Renamed");
    let reply = app.put(&format!("{PATH}/orders"), fetched).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let (secret, header): (String, String) = sqlx::query_as(
        "SELECT targets->'Http'->>'Secret', targets->'Http'->>'CustomAuthHeaderValue' FROM delivery_configs",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((secret.as_str(), header.as_str()), ("s3cret", "k3y"));
}

#[tokio::test]
async fn patch_merges_and_keeps_what_it_does_not_name() {
    let app = TestApp::spawn().await;
    app.post(PATH, http_config("orders")).await;
    let reply = app
        .patch(
            &format!("{PATH}/orders"),
            json!({"Enabled": false, "DeliveryTargets": {"Http": {"Endpoint": "https://new.example.com/h"}},
                   "DeliveryPolicy": {"TimeoutSeconds": 5}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["Enabled"], false);
    assert_eq!(reply.body["Name"], "Order webhooks");
    assert_eq!(
        reply.body["DeliveryTargets"]["Http"]["Endpoint"],
        "https://new.example.com/h"
    );
    assert_eq!(reply.body["DeliveryTargets"]["Http"]["Secret"], "********");
    assert_eq!(reply.body["DeliveryPolicy"]["TimeoutSeconds"], 5);
    let secret: String = sqlx::query_scalar("SELECT targets->'Http'->>'Secret' FROM delivery_configs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(secret, "s3cret");

    // null removes a field: here the custom auth header, both halves.
    let reply = app
        .patch(
            &format!("{PATH}/orders"),
            json!({"DeliveryTargets": {"Http": {"CustomAuthHeaderName": null, "CustomAuthHeaderValue": null}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.body["DeliveryTargets"]["Http"]["CustomAuthHeaderName"].is_null());
}

#[tokio::test]
async fn patch_of_a_missing_config_is_404_and_invalid_patches_change_nothing() {
    let app = TestApp::spawn().await;
    let reply = app.patch(&format!("{PATH}/nope"), json!({"Name": "x"})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NotFound");

    app.post(PATH, http_config("orders")).await;
    let before = app.get(&format!("{PATH}/orders")).await.body;
    for (patch, code) in [
        (
            json!({"DeliveryTargets": {"Http": {"Endpoint": "not a url"}}}),
            "InvalidUrl",
        ),
        (json!({"Name": null}), "RequiredField"),
        (json!({"Colour": "red"}), "UnknownField"),
        (json!({"Enabled": "no"}), "InvalidFieldType"),
        (json!({"ID": "other"}), "InvalidID"),
    ] {
        let reply = app.patch(&format!("{PATH}/orders"), patch.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{patch}");
        assert_eq!(reply.error_code(), code, "{patch}: {:?}", reply.body);
    }
    assert_eq!(app.get(&format!("{PATH}/orders")).await.body, before);
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let app = TestApp::spawn().await;
    app.post(PATH, http_config("orders")).await;
    assert_eq!(
        app.delete(&format!("{PATH}/orders")).await.status,
        StatusCode::NO_CONTENT
    );
    let reply = app.get(&format!("{PATH}/orders")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["Errors"][0]["Message"], "DeliveryConfig not found: orders");
    assert_eq!(
        app.delete(&format!("{PATH}/orders")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn missing_required_fields_are_all_reported() {
    let app = TestApp::spawn().await;
    let reply = app.post(PATH, json!({"ID": "x"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_codes(), ["RequiredField", "RequiredField"]);
    assert_eq!(reply.body["Errors"][0]["Data"]["Field"], "Name");
    assert_eq!(reply.body["Errors"][1]["Data"]["Field"], "DeliveryTargets");
    assert_eq!(app.count("delivery_configs").await, 0);
}

#[tokio::test]
async fn target_fields_are_validated() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"Http": {}}), "RequiredField", "DeliveryTargets.Http.Endpoint"),
        (
            json!({"Http": {"Endpoint": "hooks.example.com"}}),
            "InvalidUrl",
            "DeliveryTargets.Http.Endpoint",
        ),
        (
            json!({"Http": {"Endpoint": "ftp://hooks.example.com"}}),
            "InvalidUrl",
            "DeliveryTargets.Http.Endpoint",
        ),
        (
            json!({"Http": {"Endpoint": "https://u:p@x.com"}}),
            "InvalidUrl",
            "DeliveryTargets.Http.Endpoint",
        ),
        (
            json!({"SendEvent": {"SiteID": "not-a-uuid"}}),
            "InvalidValue",
            "DeliveryTargets.SendEvent.SiteID",
        ),
        (
            json!({"DiscoverEvent": {"ClientID": "c"}}),
            "RequiredField",
            "DeliveryTargets.DiscoverEvent.ApiKey",
        ),
        (
            json!({"Segment": {"WriteKey": "k", "Endpoint": "nope"}}),
            "InvalidUrl",
            "DeliveryTargets.Segment.Endpoint",
        ),
        (json!({}), "RequiredField", "DeliveryTargets"),
        (json!({"Kafka": {}}), "UnknownField", "DeliveryTargets.Kafka"),
    ];
    for (targets, code, field) in cases {
        let reply = app
            .post(PATH, json!({"Name": "n", "DeliveryTargets": targets.clone()}))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{targets}");
        assert_eq!(reply.error_code(), code, "{targets}: {:?}", reply.body);
        assert_eq!(reply.body["Errors"][0]["Data"]["Field"], field, "{targets}");
    }
    assert_eq!(app.count("delivery_configs").await, 0);
}

#[tokio::test]
async fn ids_are_validated_in_body_and_path() {
    let app = TestApp::spawn().await;
    for id in ["has space", "slash/inside", "ünï", &"a".repeat(101)] {
        let reply = app.post(PATH, http_config(id)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(reply.error_code(), "InvalidID", "{id}");
    }
    let reply = app.put(&format!("{PATH}/bad%20id"), http_config("bad id")).await;
    assert_eq!(reply.error_code(), "InvalidID");
    let reply = app.get(&format!("{PATH}/{}", "a".repeat(101))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = app.put(&format!("{PATH}/one"), http_config("two")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidID");
    assert_eq!(app.count("delivery_configs").await, 0);
}

#[tokio::test]
async fn policy_is_validated() {
    let app = TestApp::spawn().await;
    let mut body = http_config("p");
    body["DeliveryPolicy"] = json!({"TimeoutSeconds": 120, "RetrySchedule": [1, 2], "MaxInFlight": 4});
    let reply = app.post(PATH, body.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["Errors"][0]["Data"]["Field"],
        "DeliveryPolicy.TimeoutSeconds"
    );
    body["DeliveryPolicy"]["TimeoutSeconds"] = json!(10);
    let reply = app.post(PATH, body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["DeliveryPolicy"]["RetrySchedule"], json!([1, 2]));
    assert_eq!(reply.body["DeliveryPolicy"]["MaxInFlight"], 4);
}

#[tokio::test]
async fn malformed_bodies_get_precise_4xx_and_write_nothing() {
    let app = TestApp::spawn().await;
    let json = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
        (json, b"{\"Name\": ".to_vec(), StatusCode::BAD_REQUEST, "InvalidJson"),
        (json, b"".to_vec(), StatusCode::BAD_REQUEST, "InvalidJson"),
        (json, b"[1,2,3]".to_vec(), StatusCode::BAD_REQUEST, "InvalidFieldType"),
        (
            json,
            br#"{"Name": 5}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidFieldType",
        ),
        (
            json,
            br#"{"Name": "n", "Nmae": "typo"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "UnknownField",
        ),
        (
            json,
            br#"{"Name": "a\u0000b"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "InvalidJson",
        ),
        (
            Some("text/plain"),
            br#"{"Name": "n"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
        ),
        (
            None,
            br#"{"Name": "n"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
        ),
        (
            json,
            vec![b' '; 65 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let reply = app.raw(Method::POST, PATH, content_type, body).await;
        assert_eq!(reply.status, status, "{content_type:?} {shown}");
        assert_eq!(reply.error_code(), code, "{content_type:?} {shown}: {:?}", reply.body);
    }
    let reply = app
        .raw(Method::POST, PATH, json, br#"{"Name": "n", "Nmae": "typo"}"#.to_vec())
        .await;
    assert_eq!(reply.body["Errors"][0]["Data"]["Field"], "Nmae");
    let reply = app.get(&format!("{PATH}?search=%00")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.error_code(), "InvalidQueryParameter");
    assert_eq!(app.count("delivery_configs").await, 0);
}

#[tokio::test]
async fn json_with_a_charset_is_accepted() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&http_config("cs")).unwrap();
    let reply = app
        .raw(Method::POST, PATH, Some("application/json; charset=utf-8"), body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let reply = app.get("/v1/integrations/nothing").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NotFound");
    let reply = app.call(Method::DELETE, PATH, Some(Role::FullAccess), None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "MethodNotAllowed");
    assert_eq!(reply.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn paths_match_case_insensitively_but_ids_keep_their_case() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/V1/Integrations/DeliveryConfig", http_config("MixedCase"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = app.get("/v1/INTEGRATIONS/deliveryConfig/MixedCase").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["ID"], "MixedCase");
    assert_eq!(
        app.get("/v1/integrations/deliveryconfig/mixedcase").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/v1/integrations/trackingevents").await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/integrations/TRACKINGEVENTS/").await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/integrations/errorconfig").await.error_code(), "NotFound");
    assert_eq!(app.get("/HEALTH/LIVE").await.status, StatusCode::OK);
}
