use reqwest::StatusCode;
use secrecy::SecretString;
use trackway::startup::Application;

use crate::helpers::{fresh_settings, TestApp};

#[tokio::test]
async fn live_and_ready_with_a_database() {
    let app = TestApp::spawn().await;
    let live = app.call(reqwest::Method::GET, "/health/live", None, None).await;
    assert_eq!(
        (live.status, live.body["Status"].as_str()),
        (StatusCode::OK, Some("Live"))
    );
    let ready = app.call(reqwest::Method::GET, "/health/ready", None, None).await;
    assert_eq!(
        (ready.status, ready.body["Status"].as_str()),
        (StatusCode::OK, Some("Ready"))
    );
}

#[tokio::test]
async fn not_ready_without_a_database_but_still_live() {
    let mut settings = fresh_settings();
    // A port nothing listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    settings.database.url = SecretString::from(format!("postgres://postgres@127.0.0.1:{port}/none"));
    settings.database.acquire_timeout_seconds = 1;
    let app = Application::build(&settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let ready = client.get(format!("{address}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["Errors"][0]["ErrorCode"], "ServiceUnavailable");
    let live = client.get(format!("{address}/health/live")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_spec_is_served_and_matches_the_committed_file() {
    let app = TestApp::spawn().await;
    let served = app
        .client
        .get(format!("{}/openapi.yaml", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let served = served.text().await.unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml is committed at the repository root");
    assert_eq!(
        served, committed,
        "openapi.yaml is stale: regenerate it with `cargo run -- openapi > openapi.yaml`"
    );
    assert!(served.contains("/v1/integrations/deliveryconfig/{id}"));
}
