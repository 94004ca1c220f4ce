use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trackway::domain::Role;

use crate::helpers::TestApp;

/// One request per route group, and the roles that may make it.
struct RouteGroup {
    name: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    allowed: Vec<Role>,
}

fn group(name: &'static str, method: Method, path: &'static str, body: Option<Value>, allowed: &[Role]) -> RouteGroup {
    RouteGroup {
        name,
        method,
        path,
        body,
        allowed: allowed.to_vec(),
    }
}

fn route_groups() -> Vec<RouteGroup> {
    use Role::*;
    let config = json!({"ID": "c2", "Name": "n", "DeliveryTargets": {"Http": {"Endpoint": "https://x.example.com"}}});
    let event =
        json!({"Name": "n", "EventType": "OrderSubmitted", "ClientID": "storefront", "DeliveryConfigID": "hooks"});
    let error_config = json!({"DeliveryConfigID": "hooks"});
    vec![
        group(
            "read DeliveryConfigs",
            Method::GET,
            "/v1/integrations/deliveryconfig",
            None,
            &[FullAccess, DeliveryConfigAdmin],
        ),
        group(
            "read one DeliveryConfig",
            Method::GET,
            "/v1/integrations/deliveryconfig/hooks",
            None,
            &[FullAccess, DeliveryConfigAdmin],
        ),
        group(
            "write DeliveryConfigs",
            Method::PUT,
            "/v1/integrations/deliveryconfig/c2",
            Some(config),
            &[FullAccess, DeliveryConfigAdmin],
        ),
        group(
            "read TrackingEvents",
            Method::GET,
            "/v1/integrations/trackingEvents",
            None,
            &[FullAccess, TrackingEventAdmin, TrackingEventReader],
        ),
        group(
            "write TrackingEvents",
            Method::PUT,
            "/v1/integrations/trackingEvents/t1",
            Some(event),
            &[FullAccess, TrackingEventAdmin],
        ),
        group(
            "delete TrackingEvents",
            Method::DELETE,
            "/v1/integrations/trackingEvents/missing",
            None,
            &[FullAccess, TrackingEventAdmin],
        ),
        group(
            "write ErrorConfig",
            Method::PUT,
            "/v1/integrations/ErrorConfig",
            Some(error_config),
            &[FullAccess, ErrorConfigAdmin],
        ),
        group(
            "read ErrorConfig",
            Method::GET,
            "/v1/integrations/ErrorConfig",
            None,
            &[FullAccess, ErrorConfigAdmin],
        ),
    ]
}

#[tokio::test]
async fn each_route_group_admits_exactly_its_roles() {
    let app = TestApp::spawn().await;
    app.create_delivery_config("hooks").await;
    for RouteGroup {
        name: group,
        method,
        path,
        body,
        allowed,
    } in route_groups()
    {
        for role in Role::ALL {
            let reply = app.call(method.clone(), path, Some(role), body.clone()).await;
            if allowed.contains(&role) {
                assert!(
                    reply.status.is_success() || reply.status == StatusCode::NOT_FOUND,
                    "{group} as {role}: {} {:?}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{group} as {role}");
                assert_eq!(reply.error_code(), "InsufficientRoles", "{group} as {role}");
                let sufficient = &reply.body["Errors"][0]["Data"]["SufficientRoles"];
                assert_eq!(sufficient, &json!(allowed), "{group} as {role}");
                assert_eq!(reply.body["Errors"][0]["Data"]["AssignedRoles"], json!([role]));
            }
        }
    }
}

#[tokio::test]
async fn every_v1_route_needs_a_token() {
    let app = TestApp::spawn().await;
    for RouteGroup {
        name: group,
        method,
        path,
        body,
        ..
    } in route_groups()
    {
        let reply = app.call(method, path, None, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{group}");
        assert_eq!(reply.error_code(), "MissingToken", "{group}");
    }
    // Unknown /v1 paths too: their existence is not revealed without a key.
    let reply = app.call(Method::GET, "/v1/secret-things", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/integrations/trackingEvents", app.address);
    let full = app.token(Role::FullAccess).to_owned();
    for header in [
        "Bearer tw_not-a-real-token",
        "Bearer ",
        &format!("Basic {full}"),
        &full,
        &format!("Bearer {full}x"),
    ] {
        let response = app
            .client
            .get(&url)
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["Errors"][0]["ErrorCode"], "InvalidToken", "{header}");
    }
    let response = app
        .client
        .get(&url)
        .header("Authorization", format!("bearer {full}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the scheme is case-insensitive");
}

#[tokio::test]
async fn keys_are_checked_before_bodies() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/integrations/deliveryconfig", app.address);
    let unauthenticated = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let wrong_role = app
        .client
        .post(&url)
        .bearer_auth(app.token(Role::TrackingEventReader))
        .header("Content-Type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_role.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_hashes_of_tokens_are_stored() {
    let app = TestApp::spawn().await;
    let token = app.token(Role::FullAccess).to_owned();
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM api_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), Role::ALL.len());
    assert!(stored.iter().all(|h| h.len() == 32));
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM api_keys t")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!dump.contains(&token[3..]), "a token is stored in clear");
}

/// A live key is remembered for `server.api_key_cache_seconds`; revoked, it stops working once
/// that time has passed (immediately when the cache is off).
#[tokio::test]
async fn a_revoked_key_stops_working_within_the_cache_time() {
    for seconds in [0, 1] {
        let mut settings = crate::helpers::fresh_settings();
        settings.server.api_key_cache_seconds = seconds;
        let app = TestApp::spawn_with(settings).await;
        let path = "/v1/integrations/deliveryconfig";
        assert_eq!(
            app.call(Method::GET, path, Some(Role::FullAccess), None).await.status,
            StatusCode::OK
        );
        sqlx::query("UPDATE api_keys SET revoked_at = now()")
            .execute(&app.pool)
            .await
            .unwrap();
        app.advance(std::time::Duration::from_millis(seconds * 1000 + 100));
        let reply = app.call(Method::GET, path, Some(Role::FullAccess), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "cache of {seconds} s");
        assert_eq!(reply.error_code(), "InvalidToken");
    }
}
