//! The `trackway` binary itself: key management, the spec, configuration errors.

use reqwest::StatusCode;
use tokio::process::Command;

use crate::helpers::TestApp;

fn trackway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trackway"));
    command.env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("TRACKWAY__") {
            command.env_remove(key);
        }
    }
    command
}

#[tokio::test]
async fn keys_create_prints_a_working_token_on_its_last_line() {
    let app = TestApp::spawn().await;
    let output = trackway()
        .args(["keys", "create", "--name", "ops", "--role", "TrackingEventReader"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("tw_"), "{stdout}");

    let url = format!("{}/v1/integrations/trackingEvents", app.address);
    let reply = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = app
        .client
        .get(format!("{}/v1/integrations/deliveryconfig", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);

    let listed = trackway()
        .args(["keys", "list"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    let line = listed
        .lines()
        .find(|l| l.contains("\tops\t"))
        .expect("the new key is listed");
    assert!(
        line.contains("TrackingEventReader") && line.ends_with("active"),
        "{line}"
    );
    assert!(!listed.contains(&token), "keys list must not show tokens");

    let id = line.split('\t').next().unwrap();
    let revoked = trackway()
        .args(["keys", "revoke", id])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(revoked.status.success());
    // The running server trusts a key it found for `server.api_key_cache_seconds` (1), by its
    // clock.
    app.advance(std::time::Duration::from_millis(1100));
    let reply = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    let again = trackway()
        .args(["keys", "revoke", id])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(!again.status.success(), "revoking twice is an error");
}

#[tokio::test]
async fn keys_create_refuses_bad_roles_and_unscoped_trigger_senders() {
    let app = TestApp::spawn().await;
    let unknown = trackway()
        .args(["keys", "create", "--name", "x", "--role", "Admin"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown role"));
    let unscoped = trackway()
        .args(["keys", "create", "--name", "x", "--role", "TriggerSender"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(!unscoped.status.success());
    assert!(String::from_utf8_lossy(&unscoped.stderr).contains("--client-id"));
    let scoped = trackway()
        .args([
            "keys",
            "create",
            "--name",
            "x",
            "--role",
            "TriggerSender",
            "--client-id",
            "storefront",
        ])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(scoped.status.success(), "{}", String::from_utf8_lossy(&scoped.stderr));
}

#[tokio::test]
async fn openapi_prints_the_committed_spec() {
    let output = trackway().arg("openapi").output().await.unwrap();
    assert!(output.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    assert!(
        output.stdout == committed,
        "openapi.yaml is stale: run `cargo run -- openapi > openapi.yaml`"
    );
}

#[tokio::test]
async fn invalid_configuration_fails_at_boot_naming_the_field() {
    let output = trackway()
        .arg("serve")
        .env("TRACKWAY__SERVER__LISTEN", "everywhere")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.listen"), "{stderr}");

    let missing = trackway()
        .args(["--config", "/nonexistent/trackway.toml", "serve"])
        .output()
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/trackway.toml"));
}
