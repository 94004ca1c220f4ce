//! What a run measured: rates, latency percentiles, missing and duplicate deliveries, and the
//! CPU and memory the gateway and PostgreSQL spent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use trackway::receiver::{Arrivals, Receiver};

use super::load::Run;
use super::process::{cpu_seconds, peak_rss_mib, postgres_cpu_seconds, postgres_rss_mib, Gateway};

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub triggers: usize,
    pub offered_per_s: f64,
    pub accepted_per_s: f64,
    pub deliveries: usize,
    /// Deliveries received ÷ (last receipt − first send).
    pub deliveries_per_s: f64,
    pub ingest_ms: Percentiles,
    /// From sending the trigger to the receiver getting its delivery.
    pub send_to_receipt_ms: Percentiles,
    pub missing: usize,
    pub duplicates: usize,
    pub trackway_cpu_s: f64,
    pub trackway_peak_rss_mib: f64,
    pub postgres_cpu_s: f64,
    pub postgres_peak_rss_mib: f64,
    /// The machine's CPUs busy while triggers were being sent (everything running on it: the
    /// gateway, PostgreSQL, this driver and its receiver, and anything else), in percent.
    pub machine_busy_pct: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentiles(mut values: Vec<Duration>) -> Percentiles {
    if values.is_empty() {
        return Percentiles::default();
    }
    values.sort();
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Waits for the healthy target's deliveries (up to 60 s after sending ended), then measures.
pub async fn report(
    name: &str,
    run: &Run,
    healthy: &Receiver<Arrivals>,
    gateway: &Gateway,
    pg_cpu_before: f64,
) -> Report {
    let (busy, all) = run.machine_ticks;
    let pid = gateway.pid().unwrap_or(0);
    let expected: Vec<(String, Instant)> = run
        .sent
        .iter()
        .flat_map(|s| {
            s.deliveries
                .iter()
                .filter(|(_, config)| config.starts_with("healthy"))
                .map(|(id, _)| (id.clone(), s.started))
        })
        .collect();
    let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pg_peak = postgres_rss_mib();
    while healthy.received_of(&ids) < ids.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pg_peak = pg_peak.max(postgres_rss_mib());
    }
    let arrivals = healthy.arrivals();
    let sent_at: HashMap<&str, Instant> = expected.iter().map(|(id, at)| (id.as_str(), *at)).collect();
    let mut latencies = Vec::new();
    let mut last_receipt = run.began;
    let mut duplicates = 0;
    for (id, times) in &arrivals {
        if let Some(sent) = sent_at.get(id.as_str()) {
            let first = times.iter().min().copied().unwrap_or(*sent);
            latencies.push(first.saturating_duration_since(*sent));
            last_receipt = last_receipt.max(first);
            duplicates += times.len() - 1;
        }
    }
    let delivered = latencies.len();
    let sending = run.sending_took.as_secs_f64();
    let accepted = run.sent.iter().filter(|s| s.accepted).count();
    Report {
        scenario: name.to_owned(),
        triggers: run.sent.len(),
        offered_per_s: run.sent.len() as f64 / sending,
        accepted_per_s: accepted as f64 / sending,
        deliveries: delivered,
        deliveries_per_s: delivered as f64
            / last_receipt
                .saturating_duration_since(run.began)
                .as_secs_f64()
                .max(1e-9),
        ingest_ms: percentiles(run.sent.iter().map(|s| s.ingest).collect()),
        send_to_receipt_ms: percentiles(latencies),
        missing: ids.len() - delivered,
        duplicates,
        trackway_cpu_s: cpu_seconds(pid),
        trackway_peak_rss_mib: peak_rss_mib(pid),
        postgres_cpu_s: postgres_cpu_seconds() - pg_cpu_before,
        postgres_peak_rss_mib: pg_peak,
        machine_busy_pct: 100.0 * busy as f64 / all.max(1) as f64,
    }
}

pub fn print_summary(r: &Report) {
    println!(
        "  {:<26} {:>6} triggers  offered {:>7.0}/s  accepted {:>7.0}/s  delivered {:>7.0}/s  missing {}  dup {}",
        r.scenario, r.triggers, r.offered_per_s, r.accepted_per_s, r.deliveries_per_s, r.missing, r.duplicates
    );
    println!(
        "  {:<26} ingest p50/p95/p99/max {:.1}/{:.1}/{:.1}/{:.1} ms  send→receipt {:.1}/{:.1}/{:.1}/{:.1} ms",
        "",
        r.ingest_ms.p50,
        r.ingest_ms.p95,
        r.ingest_ms.p99,
        r.ingest_ms.max,
        r.send_to_receipt_ms.p50,
        r.send_to_receipt_ms.p95,
        r.send_to_receipt_ms.p99,
        r.send_to_receipt_ms.max
    );
    println!(
        "  {:<26} trackway {:.1} CPU s, peak RSS {:.0} MiB; PostgreSQL {:.1} CPU s (all backends), RSS ≤ {:.0} MiB; CPUs {:.0} % busy while sending",
        "", r.trackway_cpu_s, r.trackway_peak_rss_mib, r.postgres_cpu_s, r.postgres_peak_rss_mib, r.machine_busy_pct
    );
}
