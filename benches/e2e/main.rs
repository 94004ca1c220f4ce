//! End-to-end benchmark: the real `trackway serve` binary against a fresh PostgreSQL database,
//! configured through its API, driven over HTTP, delivering signed webhooks to an in-process
//! receiver that answers 200 at once. Each scenario prints one JSON line and a summary.
//!
//! ```sh
//! cargo bench --bench e2e                                 # every scenario at full size
//! cargo bench --bench e2e -- --scenario saturate --scale 0.1
//! ```
//! Scenarios: `saturate` (20,000 triggers, closed loop at concurrency 16 and 64), `rate`
//! (500, 1,000 and 2,000 triggers/s for 30 s, open loop), `fanout` (10 targets, 300 triggers/s
//! for 30 s), `bad-neighbour` (a healthy target alone, then beside one that times out),
//! `ordered` (as `saturate-c16`, to a target whose DeliveryPolicy is `Ordered`: each of the
//! 1,000 shoppers' deliveries one at a time, claimed from the queue), `hot-shopper` (20,000
//! triggers at concurrency 16, all about one shopper and one order) and `flash-sale` (20,000
//! triggers at concurrency 16 from 1,000 shoppers, each carrying the one product whose inventory
//! changes with every trigger). `--scale` multiplies trigger counts and durations.
//!
//! Run by `cargo test` (without `--bench`), it is a smoke test instead: every scenario at scale
//! 0.01, failing on any missing or duplicate delivery, so the benchmark cannot rot unnoticed.

mod load;
mod process;
mod stats;

use std::time::Duration;

use load::{Load, Run, Shape};
use process::Gateway;
use serde_json::{json, Value};
use trackway::receiver::{Arrivals, Receiver, Reply};

/// The benchmark's client and receiver share the two cores with the gateway and PostgreSQL;
/// glibc's allocator was a good part of their CPU, taken from what is being measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    scenario: String,
    scale: f64,
    /// Run by `cargo test`: small, and any missing or duplicate delivery fails it.
    smoke: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let smoke = !args.iter().any(|a| a == "--bench");
    Options {
        scenario: value("--scenario").unwrap_or_else(|| "all".into()),
        scale: value("--scale")
            .and_then(|s| s.parse().ok())
            .unwrap_or(if smoke { 0.01 } else { 1.0 }),
        smoke,
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(options()))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let wants = |name: &str| options.scenario == "all" || options.scenario == name;
    let scaled = |n: f64| (n * options.scale).max(1.0);
    println!(
        "# e2e benchmark on {} cores, scale {}{}",
        std::thread::available_parallelism()?.get(),
        options.scale,
        if options.smoke {
            " (smoke test: run `cargo bench --bench e2e` to measure)"
        } else {
            ""
        }
    );
    let mut reports = Vec::new();
    if wants("saturate") {
        for concurrency in [16, 64] {
            let bench = Bench::start(1, None, None).await?;
            let load = Load::Closed {
                triggers: scaled(20_000.0) as usize,
                concurrency,
            };
            reports.push(
                bench
                    .measure(&format!("saturate-c{concurrency}"), load, Shape::Spread)
                    .await?,
            );
        }
    }
    if wants("ordered") {
        let bench = Bench::start(1, None, Some(json!({"Ordered": true}))).await?;
        let load = Load::Closed {
            triggers: scaled(20_000.0) as usize,
            concurrency: 16,
        };
        reports.push(bench.measure("ordered-c16", load, Shape::Spread).await?);
    }
    if wants("rate") {
        for rate in [500.0, 1_000.0, 2_000.0] {
            let bench = Bench::start(1, None, None).await?;
            let load = Load::Open {
                rate,
                duration: Duration::from_secs_f64(scaled(30.0)),
            };
            reports.push(bench.measure(&format!("rate-{rate}"), load, Shape::Spread).await?);
        }
    }
    if wants("fanout") {
        let bench = Bench::start(10, None, None).await?;
        let load = Load::Open {
            rate: 300.0,
            duration: Duration::from_secs_f64(scaled(30.0)),
        };
        reports.push(bench.measure("fanout-10", load, Shape::Spread).await?);
    }
    if wants("bad-neighbour") {
        let load = Load::Open {
            rate: 500.0,
            duration: Duration::from_secs_f64(scaled(30.0)),
        };
        let alone = Bench::start(1, None, None).await?;
        reports.push(alone.measure("healthy-alone", load.clone(), Shape::Spread).await?);
        let beside = Bench::start(1, Some(Duration::from_secs(60)), None).await?;
        reports.push(beside.measure("healthy-beside-a-timeout", load, Shape::Spread).await?);
    }
    // The same closed loop as saturate-c16, its triggers about one shopper, or each changing
    // one product: batches must hold many of them, or these fall far behind it.
    for (name, shape) in [("hot-shopper", Shape::HotShopper), ("flash-sale", Shape::FlashSale)] {
        if wants(name) {
            let bench = Bench::start(1, None, None).await?;
            let load = Load::Closed {
                triggers: scaled(20_000.0) as usize,
                concurrency: 16,
            };
            reports.push(bench.measure(name, load, shape).await?);
        }
    }
    if options.smoke {
        for r in &reports {
            anyhow::ensure!(
                r.missing == 0 && r.duplicates == 0,
                "{}: {} missing and {} duplicate deliveries",
                r.scenario,
                r.missing,
                r.duplicates
            );
        }
    }
    Ok(())
}

/// One gateway, its receivers and its configuration, fresh for each scenario.
struct Bench {
    gateway: Gateway,
    healthy: Receiver<Arrivals>,
    /// A receiver that never answers in time, when the scenario has one.
    bad: Option<Receiver<Arrivals>>,
}

impl Bench {
    /// A gateway routing LineItemAdded to `targets` healthy targets (with `policy`, when
    /// given), and to one answering after `bad_delay` (timing out after 2 s), when given.
    async fn start(targets: usize, bad_delay: Option<Duration>, policy: Option<Value>) -> anyhow::Result<Bench> {
        let gateway = Gateway::start().await?;
        let healthy = Receiver::counting_by("webhook-id").await?;
        for i in 0..targets {
            gateway
                .route(
                    &format!("healthy-{i}"),
                    &format!("{}/t{i}", healthy.origin),
                    policy.as_ref(),
                )
                .await?;
        }
        let bad = match bad_delay {
            Some(delay) => {
                let bad = Receiver::counting_by("webhook-id").await?;
                bad.always(Reply::status(200).after(delay));
                let policy = json!({"TimeoutSeconds": 2});
                gateway
                    .route("bad", &format!("{}/bad", bad.origin), Some(&policy))
                    .await?;
                Some(bad)
            }
            None => None,
        };
        Ok(Bench { gateway, healthy, bad })
    }

    async fn measure(self, name: &str, load: Load, shape: Shape) -> anyhow::Result<stats::Report> {
        let pg_cpu_before = process::postgres_cpu_seconds();
        let run: Run = load::drive(&self.gateway, &load, shape).await?;
        let report = stats::report(name, &run, &self.healthy, &self.gateway, pg_cpu_before).await;
        println!("{}", serde_json::to_string(&report)?);
        stats::print_summary(&report);
        if let Some(bad) = &self.bad {
            println!("  (the timing-out target got {} requests)", bad.count());
        }
        self.gateway.stop().await;
        Ok(report)
    }
}
