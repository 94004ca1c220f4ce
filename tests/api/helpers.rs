//! The test harness: each test gets its own PostgreSQL database (created and migrated from
//! scratch), a real server on a free port, and one API key per role.

use std::collections::HashMap;

use chrono::{SubsecRound, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use trackway::clock::Clock;
use trackway::config::Settings;
use trackway::delivery::Dispatcher;
use trackway::domain::{ResourceId, Role};
use trackway::startup::{self, Application};
use trackway::storage::api_keys::{self, NewApiKey};

/// The server the tests talk to: `TRACKWAY_TEST_DATABASE_URL` (without a database name), else
/// the machine's local PostgreSQL.
pub fn server_url() -> String {
    std::env::var("TRACKWAY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    /// The engine's clock: tests move it to make retries come due.
    pub clock: Clock,
    pub dispatcher: Arc<Dispatcher>,
    pub database_url: String,
    pub client: reqwest::Client,
    tokens: HashMap<Role, SecretString>,
}

/// A response as tests read it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The first error's code, for the many tests that check one.
    pub fn error_code(&self) -> &str {
        self.body["Errors"][0]["ErrorCode"].as_str().unwrap_or("")
    }

    pub fn error_codes(&self) -> Vec<String> {
        self.each_error(|e| &e["ErrorCode"])
    }

    /// The field each error names (`Data.Field`), in order.
    pub fn error_fields(&self) -> Vec<String> {
        self.each_error(|e| &e["Data"]["Field"])
    }

    fn each_error(&self, part: impl Fn(&Value) -> &Value) -> Vec<String> {
        self.body["Errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| part(e).as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Asks `check` every 20 ms until it answers `Some`, for up to `timeout` (then `None`): for
/// what real processes, receivers and the database do in their own time.
pub async fn poll<T, F, Fut>(timeout: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Settings for a fresh, uniquely named database that does not exist yet.
pub fn fresh_settings() -> Settings {
    let mut settings = Settings::defaults().expect("default settings");
    // Tagged with the run (scripts/test's PID), which drops its own databases when done.
    let run = std::env::var("TRACKWAY_TEST_RUN").unwrap_or_else(|_| "0".to_owned());
    let name = format!("trackway_test_{run}_{}", uuid::Uuid::new_v4().simple());
    settings.database.url = SecretString::from(format!("{}/{name}", server_url()));
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.server.max_body_bytes = 64 * 1024;
    // Tests drive delivery by hand (`deliver_all_due`) and deliver to receivers on loopback.
    settings.delivery.workers_enabled = false;
    settings.delivery.allowed_networks = "127.0.0.0/8".to_owned();
    settings
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(fresh_settings()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        startup::migrate(&settings).await.expect("migrate the test database");
        // Whole seconds, so times read back from PostgreSQL (microseconds) compare exactly.
        let clock = Clock::manual(Utc::now().trunc_subsecs(0));
        let app = Application::build_with_clock(&settings, clock.clone())
            .await
            .expect("build the application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        let dispatcher = app.dispatcher();
        tokio::spawn(app.run_until_stopped());
        let mut tokens = HashMap::new();
        for role in Role::ALL {
            let client_ids = if role == Role::TriggerSender {
                vec![ResourceId::parse("ClientID", "storefront").unwrap()]
            } else {
                Vec::new()
            };
            let new = NewApiKey {
                name: format!("test {role}"),
                roles: vec![role],
                client_ids,
            };
            let (_, token) = api_keys::create(&pool, &new).await.expect("create a test key");
            tokens.insert(role, token);
        }
        TestApp {
            address,
            pool,
            clock,
            dispatcher,
            database_url: settings.database.url.expose_secret().to_owned(),
            client: reqwest::Client::new(),
            tokens,
        }
    }

    /// Runs the delivery engine until nothing is due at the clock's current time.
    pub async fn deliver_all_due(&self) -> usize {
        self.dispatcher.deliver_due().await.expect("a delivery pass")
    }

    /// Moves the engine's clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }

    pub fn token(&self, role: Role) -> &str {
        self.tokens[&role].expose_secret()
    }

    /// A request with `role`'s key (or none), an optional JSON body, the reply parsed.
    pub async fn call(&self, method: Method, path: &str, role: Option<Role>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(role) = role {
            request = request.bearer_auth(self.token(role));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// A request with a raw body and content type, as FullAccess.
    pub async fn raw(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(self.token(Role::FullAccess))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(Role::FullAccess), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(Role::FullAccess), Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(Role::FullAccess), Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(Role::FullAccess), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(Role::FullAccess), None).await
    }

    /// Creates an Http DeliveryConfig with a secret, asserting success.
    pub async fn create_delivery_config(&self, id: &str) -> Value {
        let reply = self
            .post(
                "/v1/integrations/deliveryconfig",
                serde_json::json!({
                    "ID": id, "Name": format!("Config {id}"),
                    "DeliveryTargets": {"Http": {"Endpoint": "https://hooks.example.com/orders", "Secret": "s3cret"}}
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body
    }

    /// Creates a TrackingEvent, asserting success.
    pub async fn create_tracking_event(&self, id: &str, event_type: &str, delivery_config_id: &str) -> Value {
        let reply = self
            .post(
                "/v1/integrations/trackingEvents",
                serde_json::json!({
                    "ID": id, "Name": format!("Event {id}"), "EventType": event_type,
                    "ClientID": "storefront", "DeliveryConfigID": delivery_config_id
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body
    }

    /// Waits (up to 10 s) until exactly `n` deliveries match the SQL `condition`, as the
    /// workers running in the background record their outcomes.
    pub async fn wait_for_deliveries(&self, condition: &str, n: i64) {
        let table = format!("deliveries WHERE {condition}");
        let recorded = poll(std::time::Duration::from_secs(10), || async {
            Some(self.count(&table).await).filter(|recorded| *recorded == n)
        })
        .await;
        if recorded.is_none() {
            panic!(
                "{} of {n} deliveries recorded with {condition}",
                self.count(&table).await
            );
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply { status, headers, body }
}

impl TestApp {
    /// An Http DeliveryConfig to `endpoint` signed with `secret`, and a TrackingEvent for
    /// `event_type` from ClientID `storefront` to it.
    pub async fn route(&self, id: &str, event_type: &str, endpoint: &str, secret: &str) {
        let reply = self
            .post(
                "/v1/integrations/deliveryconfig",
                serde_json::json!({"ID": id, "Name": id,
                    "DeliveryTargets": {"Http": {"Endpoint": endpoint, "Secret": secret}}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        self.create_tracking_event(&format!("{id}-{event_type}"), event_type, id)
            .await;
    }

    /// Posts a trigger as the storefront's TriggerSender key.
    pub async fn trigger(&self, body: Value) -> Reply {
        self.call(Method::POST, "/v1/triggers", Some(Role::TriggerSender), Some(body))
            .await
    }

    /// Posts `triggers` to `/v1/triggers/batch` as the storefront's TriggerSender key; returns
    /// the reply and each result's status.
    pub async fn trigger_batch(&self, triggers: Vec<Value>) -> (Reply, Vec<u64>) {
        let body = serde_json::json!({ "Triggers": triggers });
        let reply = self
            .call(
                Method::POST,
                "/v1/triggers/batch",
                Some(Role::TriggerSender),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let statuses = reply.body["Results"]
            .as_array()
            .expect("Results")
            .iter()
            .map(|r| r["Status"].as_u64().expect("a status"))
            .collect();
        (reply, statuses)
    }

    pub async fn delivery(&self, id: &str) -> Value {
        let reply = self.get(&format!("/v1/deliveries/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body
    }
}
