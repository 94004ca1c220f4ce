//! Driving triggers: closed loop (N senders back to back) or open loop (a fixed offered rate,
//! whatever the gateway's latency), each a realistic ~1 KB LineItemAdded of the scenario's
//! [`Shape`].

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

/// Who and what the triggers are about.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Each trigger on an order of its own, its shopper one of 1,000, the same 3 products.
    Spread,
    /// Every trigger about one user and visitor, on one order whose 3 lines change in turn.
    HotShopper,
    /// As `Spread`, but every trigger carries a product whose inventory (`xp`) is one less.
    FlashSale,
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

/// The `n`-th trigger of a run of `shape`: a LineItemAdded carrying the order, the changed
/// line item, the products and the user (about 1 KB).
pub fn trigger(shape: Shape, n: usize) -> Value {
    match shape {
        Shape::Spread | Shape::FlashSale => spread(shape, n),
        Shape::HotShopper => hot_shopper(n),
    }
}

fn product(i: usize) -> Value {
    json!({"ID": format!("sku-{i}"), "Name": format!("Product number {i}"), "Active": true,
           "xp": {"category": "Tea", "brand": "Leafy"}})
}

fn user(id: &str) -> Value {
    json!({"ID": id, "Email": "buyer@example.com", "FirstName": "Bench", "LastName": "Buyer"})
}

/// Order `n` of shopper `n mod 1000`, carrying all 3 of its line items; in a flash sale the
/// third line's product is the sale's, its stock one less with each trigger.
fn spread(shape: Shape, n: usize) -> Value {
    let order = format!("bench-order-{n}");
    let buyer = format!("buyer-{}", n % 1000);
    let mut products: Vec<Value> = (1..=3).map(product).collect();
    if let Shape::FlashSale = shape {
        products[2] = json!({"ID": "flash-sale", "Name": "Kettle, today only", "Active": true,
                             "xp": {"category": "Kitchen", "inventory": 1_000_000 - n}});
    }
    let lines: Vec<Value> = (1..=3)
        .map(|i| json!({"ID": format!("line-{i}"), "ProductID": products[i - 1]["ID"], "Quantity": i, "UnitPrice": 9.5 * i as f64,
                        "LineSubtotal": 9.5 * (i * i) as f64, "LineTotal": 9.5 * (i * i) as f64}))
        .collect();
    json!({
        "ID": format!("bench-{n}"), "EventType": "LineItemAdded", "ClientID": "bench",
        "UserID": buyer, "AnonymousID": format!("beacon-{}", n % 1000),
        "Order": {"ID": order, "FromUserID": buyer, "Currency": "USD", "Subtotal": 133.0, "Total": 140.5},
        "LineItem": lines[2].clone(), "LineItems": lines, "Products": products, "User": user(&buyer)
    })
}

/// One shopper's one order: trigger `n` adds line `n mod 3` again, one more of it each time
/// round, and the order's total grows; the other two lines are read from the store.
fn hot_shopper(n: usize) -> Value {
    let i = n % 3 + 1;
    let quantity = n / 3 + 1;
    let line = json!({"ID": format!("line-{i}"), "ProductID": format!("sku-{i}"), "Quantity": quantity,
                      "UnitPrice": 9.5 * i as f64, "LineTotal": 9.5 * (i * quantity) as f64});
    json!({
        "ID": format!("bench-{n}"), "EventType": "LineItemAdded", "ClientID": "bench",
        "UserID": "hot-buyer", "AnonymousID": "hot-beacon",
        "Order": {"ID": "hot-order", "FromUserID": "hot-buyer", "Currency": "USD", "Total": 9.5 * n as f64},
        "LineItem": line, "Products": (1..=3).map(product).collect::<Vec<_>>(), "User": user("hot-buyer")
    })
}

/// What a sending task needs: cheap to clone into each task.
#[derive(Clone)]
struct Driver {
    shape: Shape,
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
            .json(&trigger(self.shape, n))
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

pub async fn drive(gateway: &Gateway, load: &Load, shape: Shape) -> anyhow::Result<Run> {
    let driver = Driver {
        shape,
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
