//! `trackway demo`: a walkthrough against a running server. It creates a temporary API key,
//! starts a local receiver, configures a signed Http DeliveryConfig and three TrackingEvents,
//! sends a login, two line items and an order submission as a storefront would, and prints
//! each delivery as it arrives with its signature verified. The key is revoked at the end.

use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::{ResourceId, Role};
use crate::receiver::{Receiver, Reply};
use crate::storage::{self, api_keys};

const CLIENT: &str = "demo-storefront";
const SECRET: &str = "whsec_ZGVtby1zZWNyZXQtZm9yLXRyYWNrd2F5LWRlbW8=";

pub async fn run(settings: &Settings, api: &str) -> anyhow::Result<()> {
    let pool = storage::pool(&settings.database)?;
    let (key, token) = api_keys::create(
        &pool,
        &api_keys::NewApiKey {
            name: "trackway demo".into(),
            roles: vec![Role::FullAccess],
            client_ids: vec![ResourceId::parse("ClientID", CLIENT).map_err(|e| anyhow::anyhow!(e.message))?],
        },
    )
    .await
    .context("cannot create the demo's API key (is the database migrated?)")?;
    let result = walkthrough(api, token.expose_secret()).await;
    api_keys::revoke(&pool, key.id).await?;
    result
}

async fn walkthrough(api: &str, token: &str) -> anyhow::Result<()> {
    let receiver = Receiver::start().await.context("cannot start the demo's receiver")?;
    receiver.always(Reply::status(204));
    let endpoint = format!("{}/webhooks/trackway", receiver.origin);

    let client = Client {
        http: reqwest::Client::new(),
        api: api.trim_end_matches('/').to_owned(),
        token: token.to_owned(),
    };
    println!("== Trackway demo against {api}");
    println!("-- a local receiver listens at {endpoint}");
    client
        .send(
            "PUT",
            "/v1/integrations/deliveryconfig/demo-webhook",
            json!({
                "Name": "Demo webhook",
                "DeliveryTargets": {"Http": {"Endpoint": endpoint, "Secret": SECRET}}
            }),
        )
        .await?;
    println!("-- DeliveryConfig demo-webhook: Http to the receiver, signed with a whsec_ secret");
    for event_type in ["UserLoggedIn", "LineItemAdded", "OrderSubmitted"] {
        client
            .send(
                "PUT",
                &format!("/v1/integrations/trackingEvents/demo-{event_type}"),
                json!({
                    "Name": format!("Demo {event_type}"), "EventType": event_type,
                    "ClientID": CLIENT, "DeliveryConfigID": "demo-webhook"
                }),
            )
            .await?;
    }
    println!("-- TrackingEvents for UserLoggedIn, LineItemAdded and OrderSubmitted from {CLIENT}");

    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let order = format!("demo-order-{run}");
    let triggers = [
        json!({"EventType": "UserLoggedIn", "ClientID": CLIENT, "UserID": "demo-buyer", "AnonymousID": format!("beacon-{run}"),
               "User": {"ID": "demo-buyer", "Username": "ada", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"}}),
        json!({"EventType": "LineItemAdded", "ClientID": CLIENT, "UserID": "demo-buyer",
               "Order": {"ID": order, "FromUserID": "demo-buyer", "Currency": "USD"},
               "LineItem": {"ID": "line-1", "ProductID": "tea", "Quantity": 2, "UnitPrice": 4.5},
               "Products": [{"ID": "tea", "Name": "Assam tea"}]}),
        json!({"EventType": "LineItemAdded", "ClientID": CLIENT, "UserID": "demo-buyer", "OrderID": order,
               "LineItem": {"ID": "line-2", "ProductID": "mug", "Quantity": 1, "UnitPrice": 12},
               "Products": [{"ID": "mug", "Name": "Stoneware mug"}]}),
        json!({"EventType": "OrderSubmitted", "ClientID": CLIENT, "UserID": "demo-buyer",
               "Order": {"ID": order, "FromUserID": "demo-buyer", "Currency": "USD", "Subtotal": 21, "Total": 21, "Status": "Open"}}),
    ];
    for trigger in &triggers {
        let accepted = client.send("POST", "/v1/triggers", trigger.clone()).await?;
        println!(
            "-> {:<15} accepted as {} with {} delivery(ies)",
            trigger["EventType"].as_str().unwrap_or_default(),
            accepted["ID"].as_str().unwrap_or_default(),
            accepted["Deliveries"].as_array().map_or(0, Vec::len)
        );
    }

    let mut verified = 0;
    while verified < triggers.len() {
        let arrived = receiver.wait_for(verified + 1, Duration::from_secs(20)).await;
        let Some(arrival) = arrived.get(verified) else {
            bail!(
                "only {verified} of {} deliveries arrived within 20 s; is `trackway serve` running with \
                 TRACKWAY__DELIVERY__ALLOWED_NETWORKS=127.0.0.0/8 (scripts/run sets it)?",
                triggers.len()
            );
        };
        let id = arrival.header("webhook-id").unwrap_or_default();
        let standard = arrival.signed_with(SECRET);
        let ordercloud = arrival.ordercloud_hashed_with(SECRET);
        let body = arrival.json();
        let count = |field: &str| body[field].as_array().map_or(0, Vec::len);
        println!(
            "<- {:<15} webhook-id {id}  signature {}  X-oc-hash {}  LineItems {}  Products {}  User {}  AnonymousId {}",
            body["EventType"].as_str().unwrap_or_default(),
            if standard { "verified" } else { "INVALID" },
            if ordercloud { "verified" } else { "INVALID" },
            count("LineItems"),
            count("Products"),
            body["User"]["ID"].as_str().unwrap_or("-"),
            body["UserContext"]["AnonymousId"].as_str().unwrap_or("-"),
        );
        if !(standard && ordercloud) {
            bail!("a delivery arrived with a signature that does not verify");
        }
        verified += 1;
    }
    receiver.stop().await;
    println!("== all {verified} deliveries arrived signed and verified.");
    println!(
        "   See them with: curl -H 'Authorization: Bearer <key>' {api}/v1/deliveries?DeliveryConfigID=demo-webhook"
    );
    Ok(())
}

struct Client {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl Client {
    async fn send(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let response = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)
            .send()
            .await
            .with_context(|| format!("cannot reach Trackway at {} (is `trackway serve` running?)", self.api))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
