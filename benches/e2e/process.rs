//! The gateway under test: a `trackway serve` process on a fresh database, and what it costs
//! (CPU seconds and peak RSS, its own and PostgreSQL's, read from /proc).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};

pub struct Gateway {
    child: Child,
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    server: String,
    database: String,
}

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .and_then(|u| u.rsplit_once('/').map(|(server, _)| server.to_owned()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

/// How the gateway connects to PostgreSQL: `BENCH_PG_SSLMODE`, else `disable`. The server is
/// on this machine, where TLS protects nothing and costs both sides CPU (sqlx's default,
/// `prefer`, takes TLS whenever the server offers it, as Debian's does).
fn sslmode() -> String {
    std::env::var("BENCH_PG_SSLMODE").unwrap_or_else(|_| "disable".into())
}

impl Gateway {
    pub async fn start() -> anyhow::Result<Gateway> {
        let server = server_url();
        let database = format!("trackway_bench_{}", uuid::Uuid::new_v4().simple());
        let database_url = format!("{server}/{database}?sslmode={}", sslmode());
        let binary = env!("CARGO_BIN_EXE_trackway");
        let migrate = Command::new(binary)
            .arg("migrate")
            .env("DATABASE_URL", &database_url)
            .output()
            .await?;
        if !migrate.status.success() {
            bail!("migrate failed: {}", String::from_utf8_lossy(&migrate.stderr));
        }
        let key = Command::new(binary)
            .args(["keys", "create", "--name", "bench", "--role", "FullAccess"])
            .env("DATABASE_URL", &database_url)
            .output()
            .await?;
        let token = String::from_utf8(key.stdout)?
            .lines()
            .last()
            .context("no token printed")?
            .to_owned();
        checkpoint(&server).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("TRACKWAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("TRACKWAY__DELIVERY__ALLOWED_NETWORKS", "127.0.0.0/8")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let gateway = Gateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
            token,
            client: reqwest::Client::builder().pool_max_idle_per_host(256).build()?,
            server,
            database,
        };
        for _ in 0..200 {
            let ready = gateway.client.get(format!("{}/health/ready", gateway.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(gateway);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("trackway serve did not become ready")
    }

    /// An Http DeliveryConfig `id` (signed) to `endpoint` and a LineItemAdded TrackingEvent to it.
    pub async fn route(&self, id: &str, endpoint: &str, policy: Option<&serde_json::Value>) -> anyhow::Result<()> {
        let mut config = json!({"Name": id, "DeliveryTargets": {"Http": {"Endpoint": endpoint, "Secret": "whsec_YmVuY2htYXJrLXNlY3JldA=="}}});
        if let Some(policy) = policy {
            config["DeliveryPolicy"] = policy.clone();
        }
        self.put(&format!("/v1/integrations/deliveryconfig/{id}"), config)
            .await?;
        let event = json!({"Name": id, "EventType": "LineItemAdded", "ClientID": "bench", "DeliveryConfigID": id});
        self.put(&format!("/v1/integrations/trackingEvents/{id}"), event).await
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let response = self
            .client
            .put(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("{path}: {}", response.text().await?);
        }
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        if let Ok(mut conn) = PgConnection::connect(&format!("{}/postgres", self.server)).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database))
                .execute(&mut conn)
                .await;
        }
    }
}

/// Asks PostgreSQL for a checkpoint before a scenario starts, so that none falls within it: a
/// timed one comes `checkpoint_timeout` (5 minutes by default) after the last, and its writes
/// and flushes would otherwise land in whichever scenario was running, as latency. Needs a
/// superuser (or `pg_checkpoint`); without one the scenario runs all the same.
async fn checkpoint(server: &str) {
    let done = match PgConnection::connect(&format!("{server}/postgres")).await {
        Ok(mut conn) => sqlx::query("CHECKPOINT").execute(&mut conn).await.map(|_| ()),
        Err(err) => Err(err),
    };
    if let Err(err) = done {
        eprintln!("# no checkpoint before the scenario: {err}");
    }
}

/// Clock ticks per second for /proc CPU times (USER_HZ; 100 on Linux).
const TICKS: f64 = 100.0;

/// The machine's CPU time so far, in ticks: (busy, all). Busy is all but idle and I/O wait.
pub fn machine_cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .filter(|line| line.starts_with("cpu "))
        .map(|line| line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_default();
    let all: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

/// User + system CPU seconds of one process.
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / TICKS)
        })
        .unwrap_or(0.0)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The process's peak resident set (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_kib(pid, "VmHWM:") as f64 / 1024.0
}

fn postgres_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim().starts_with("postgres"))
        })
        .collect()
}

/// CPU seconds of every PostgreSQL process (exited backends are not counted).
pub fn postgres_cpu_seconds() -> f64 {
    postgres_pids().into_iter().map(cpu_seconds).sum()
}

/// PostgreSQL's resident memory now, all processes together, in MiB (shared buffers are
/// counted once per process that touched them, so this overstates).
pub fn postgres_rss_mib() -> f64 {
    postgres_pids()
        .into_iter()
        .map(|pid| status_kib(pid, "VmRSS:"))
        .sum::<u64>() as f64
        / 1024.0
}
