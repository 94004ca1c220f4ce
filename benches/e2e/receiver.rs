//! The destination: an in-process HTTP server that notes when each `webhook-id` arrived and
//! answers 200 (after `delay`, for the timing-out neighbour).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Default)]
struct Arrivals {
    by_id: Mutex<HashMap<String, Vec<Instant>>>,
}

pub struct Receiver {
    pub url: String,
    arrivals: Arc<Arrivals>,
}

impl Receiver {
    pub async fn start(delay: Duration) -> anyhow::Result<Receiver> {
        let arrivals = Arc::new(Arrivals::default());
        let shared = web::Data::from(arrivals.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).default_service(web::to(
                // The body is read, as any receiver that checks signatures does: actix closes
                // a connection whose request body was left unread, which made every delivery
                // open a new one.
                move |req: HttpRequest, _body: web::Bytes, arrivals: web::Data<Arrivals>| async move {
                    let at = Instant::now();
                    if let Some(id) = req.headers().get("webhook-id").and_then(|v| v.to_str().ok()) {
                        arrivals
                            .by_id
                            .lock()
                            .unwrap()
                            .entry(id.to_owned())
                            .or_default()
                            .push(at);
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    HttpResponse::Ok().finish()
                },
            ))
        })
        .workers(1)
        .max_connections(100_000)
        .bind("127.0.0.1:0")?;
        let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        tokio::spawn(server.run());
        Ok(Receiver { url, arrivals })
    }

    pub fn count(&self) -> usize {
        self.arrivals.by_id.lock().unwrap().values().map(Vec::len).sum()
    }

    /// When each delivery ID arrived (every arrival, duplicates included).
    pub fn arrivals(&self) -> HashMap<String, Vec<Instant>> {
        self.arrivals.by_id.lock().unwrap().clone()
    }

    /// How many of `ids` have arrived at least once.
    pub fn received_of(&self, ids: &[String]) -> usize {
        let by_id = self.arrivals.by_id.lock().unwrap();
        ids.iter().filter(|id| by_id.contains_key(*id)).count()
    }
}
