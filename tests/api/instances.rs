//! Real `trackway serve` processes for tests: started against a test's database on a free
//! port, stopped with SIGTERM or killed with SIGKILL, and what a receiver got from them.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::{Child, Command};
use trackway::receiver::{Receiver, Reply};

use crate::helpers::poll;

pub struct Serve {
    pub child: Child,
    pub url: String,
}

pub async fn serve(database_url: &str, lease_seconds: u64) -> Serve {
    serve_with(database_url, lease_seconds, &[]).await
}

/// As [`serve`], with more settings (or `RUST_LOG`) as environment variables; with
/// `RUST_LOG` set, its log is kept for [`Serve::stop`] to return.
pub async fn serve_with(database_url: &str, lease_seconds: u64, env: &[(&str, &str)]) -> Serve {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_trackway"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("TRACKWAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("TRACKWAY__DELIVERY__ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("TRACKWAY__DELIVERY__LEASE_SECONDS", lease_seconds.to_string())
        .env("TRACKWAY__DELIVERY__POLL_INTERVAL_MS", "200")
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .stderr(if env.iter().any(|(name, _)| *name == "RUST_LOG") {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::inherit()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("start trackway serve");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("http://127.0.0.1:{port}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            return Serve {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("trackway serve did not become ready");
}

impl Serve {
    /// Stops the process with SIGTERM, as an orchestrator would, and returns its log (when
    /// kept) once it has exited.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running").to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(signalled.success());
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            stderr.read_to_string(&mut log).await.unwrap();
        }
        let exited = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        assert!(exited.expect("exits after SIGTERM").unwrap().success());
        log
    }
}

pub fn counts(receiver: &Receiver) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in receiver.received() {
        *counts
            .entry(request.header("webhook-id").unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

pub async fn wait_for_distinct(receiver: &Receiver, n: usize, timeout: Duration) -> HashMap<String, usize> {
    let arrived = poll(timeout, || async {
        let counts = counts(receiver);
        (counts.len() >= n).then_some(counts)
    });
    arrived.await.unwrap_or_else(|| counts(receiver))
}

/// SIGKILLs `process` mid-flight; the receiver answers at once from then on.
pub async fn kill(mut process: Serve, receiver: &Receiver) {
    process.child.start_kill().expect("SIGKILL");
    process.child.wait().await.unwrap();
    receiver.always(Reply::status(200));
}
