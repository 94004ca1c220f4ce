//! Driving triggers: closed loop (N senders back to back) or open loop (a fixed offered rate,
//! whatever the gateway's latency), each a realistic ~1 KB LineItemAdded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::process::{machine_cpu_ticks, Gateway};

#[derive(Debug, Clone)]
pub enum Load {
    Closed { triggers: usize, concurrency: usize },
    Open { rate: f64, duration: Duration },
}

/// One trigger as the driver saw it.
pub struct Sent {
    pub started: Instant,
    pub ingest: Duration,
    pub accepted: bool,
    /// (delivery ID, DeliveryConfig ID) from the 202.
    pub deliveries: Vec<(String, String)>,
}

pub struct Run {
    pub sent: Vec<Sent>,
    pub began: Instant,
    pub sending_took: Duration,
    /// The machine's (busy, all) CPU ticks spent while sending.
    pub machine_ticks: (u64, u64),
}

/// A LineItemAdded on order `n`: the order, the changed line item, all 3 line items and their
/// products, and the user (about 1 KB).
pub fn trigger(n: usize) -> Value {
    let order = format!("bench-order-{n}");
    let lines: Vec<Value> = (1..=3)
        .map(|i| json!({"ID": format!("line-{i}"), "ProductID": format!("sku-{i}"), "Quantity": i, "UnitPrice": 9.5 * i as f64,
                        "LineSubtotal": 9.5 * (i * i) as f64, "LineTotal": 9.5 * (i * i) as f64}))
        .collect();
    let products: Vec<Value> = (1..=3)
        .map(|i| {
            json!({"ID": format!("sku-{i}"), "Name": format!("Product number {i}"), "Active": true,
                        "xp": {"category": "Tea", "brand": "Leafy"}})
        })
        .collect();
    json!({
        "ID": format!("bench-{n}"), "EventType": "LineItemAdded", "ClientID": "bench",
        "UserID": format!("buyer-{}", n % 1000), "AnonymousID": format!("beacon-{}", n % 1000),
        "Order": {"ID": order, "FromUserID": format!("buyer-{}", n % 1000), "Currency": "USD", "Subtotal": 133.0, "Total": 140.5},
        "LineItem": lines[2].clone(), "LineItems": lines, "Products": products,
        "User": {"ID": format!("buyer-{}", n % 1000), "Email": "buyer@example.com", "FirstName": "Bench", "LastName": "Buyer"}
    })
}

/// What a sending task needs: cheap to clone into each task.
#[derive(Clone)]
struct Driver {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Driver {
    async fn send(&self, n: usize) -> Sent {
        let started = Instant::now();
        let response = self
            .client
            .post(format!("{}/v1/triggers", self.url))
            .bearer_auth(&self.token)
            .json(&trigger(n))
            .send()
            .await;
        let (accepted, body) = match response {
            Ok(response) if response.status().as_u16() == 202 => {
                (true, response.json::<Value>().await.unwrap_or_default())
            }
            _ => (false, Value::Null),
        };
        let ingest = started.elapsed();
        let deliveries = body["Deliveries"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .map(|d| {
                        let id = d["ID"].as_str().unwrap_or_default().to_owned();
                        (id, d["DeliveryConfigID"].as_str().unwrap_or_default().to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Sent {
            started,
            ingest,
            accepted,
            deliveries,
        }
    }
}

pub async fn drive(gateway: &Gateway, load: &Load) -> anyhow::Result<Run> {
    let driver = Driver {
        client: gateway.client.clone(),
        url: gateway.url.clone(),
        token: gateway.token.clone(),
    };
    let (results, mut collected) = mpsc::unbounded_channel::<Sent>();
    let ticks_before = machine_cpu_ticks();
    let began = Instant::now();
    match load {
        Load::Closed { triggers, concurrency } => {
            let next = Arc::new(AtomicUsize::new(0));
            let senders: Vec<_> = (0..*concurrency)
                .map(|_| {
                    let (driver, next, results, total) = (driver.clone(), next.clone(), results.clone(), *triggers);
                    tokio::spawn(async move {
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= total {
                                break;
                            }
                            let _ = results.send(driver.send(n).await);
                        }
                    })
                })
                .collect();
            for sender in senders {
                sender.await?;
            }
        }
        Load::Open { rate, duration } => {
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = Vec::new();
            let mut n = 0;
            while began.elapsed() < *duration {
                ticks.tick().await;
                let (driver, results) = (driver.clone(), results.clone());
                tasks.push(tokio::spawn(async move {
                    let _ = results.send(driver.send(n).await);
                }));
                n += 1;
            }
            for task in tasks {
                task.await?;
            }
        }
    }
    let sending_took = began.elapsed();
    let ticks_after = machine_cpu_ticks();
    drop(results);
    let mut sent = Vec::new();
    while let Some(s) = collected.recv().await {
        sent.push(s);
    }
    Ok(Run {
        sent,
        began,
        sending_took,
        machine_ticks: (ticks_after.0 - ticks_before.0, ticks_after.1 - ticks_before.1),
    })
}
