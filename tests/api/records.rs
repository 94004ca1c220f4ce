//! `/v1/events/{id}` and `/v1/deliveries/{id}`: what a reader gets for IDs that cannot exist.

use reqwest::{Method, StatusCode};
use trackway::domain::Role;

use crate::helpers::TestApp;

#[tokio::test]
async fn event_and_delivery_ids_in_the_path_are_validated() {
    let app = TestApp::spawn().await;
    // A NUL reached PostgreSQL and came back as a 500; the other cases are refused alike.
    let long = "a".repeat(101);
    for id in ["%00", "a%00b", "has%20space", "%C3%BC", long.as_str()] {
        for (method, path) in [
            (Method::GET, format!("/v1/events/{id}")),
            (Method::GET, format!("/v1/deliveries/{id}")),
            (Method::POST, format!("/v1/deliveries/{id}/retry")),
        ] {
            let reply = app.call(method, &path, Some(Role::FullAccess), None).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {:?}", reply.body);
            assert_eq!(reply.error_code(), "InvalidID", "{path}");
        }
    }
    for path in ["/v1/events/evt_nope", "/v1/deliveries/dlv_nope"] {
        assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}
