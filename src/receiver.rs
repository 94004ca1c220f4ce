//! A real HTTP receiver on 127.0.0.1: the destination `trackway demo`, the API tests and the
//! end-to-end benchmark deliver to. It answers from a script of [`Reply`]s, then from a fallback
//! (200 unless set), and keeps either every request whole ([`Receiver::start`]) or, for loads
//! too large for that, only when each arrived, keyed by one header ([`Receiver::counting_by`]).
//! Waiting for requests wakes on each arrival instead of polling, and dropping the receiver
//! stops its server.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use tokio::sync::watch;

use crate::domain::signing::{verify_ordercloud_hash, verify_standard_webhooks};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request's path: vendor targets choose their own (`/v1/track`, `/v1/batch`…).
    pub path: String,
    /// Every header, names in lower case, values read as UTF-8 (lossily).
    pub headers: Vec<(String, String)>,
    /// The body byte for byte, as signatures are computed over it.
    pub body: Vec<u8>,
    /// When it arrived, before any delay of the reply.
    pub at: Instant,
}

impl Received {
    /// The value of header `name` (in any case), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; `Null` when it is not JSON, which any check on its fields then shows.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// Whether `webhook-signature` holds a valid signature by `secret`, checked as a Standard
    /// Webhooks receiver checks it: over `webhook-id`, `webhook-timestamp` and the body as
    /// received, in constant time, any `v1,` entry of the list sufficing.
    pub fn signed_with(&self, secret: &str) -> bool {
        let timestamp = self.header("webhook-timestamp").and_then(|t| t.parse().ok());
        match (self.header("webhook-id"), timestamp, self.header("webhook-signature")) {
            (Some(id), Some(timestamp), Some(signature)) => {
                verify_standard_webhooks(secret, id, timestamp, &self.body, signature)
            }
            _ => false,
        }
    }

    /// Whether `X-oc-hash` is `secret`'s over the body as received, as OrderCloud's receivers
    /// check it.
    pub fn ordercloud_hashed_with(&self, secret: &str) -> bool {
        self.header("x-oc-hash")
            .is_some_and(|hash| verify_ordercloud_hash(secret, &self.body, hash))
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response's status.
    pub status: StatusCode,
    /// Headers the response carries (`Retry-After`, `Location`…).
    pub headers: Vec<(&'static str, String)>,
    /// How long the request is held before the answer: to play a slow or hanging destination.
    pub delay: Duration,
}

impl Reply {
    /// Answers `status` at once, with no headers.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100–999): a mistake in the caller's constant.
    pub fn status(status: u16) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or_else(|_| panic!("{status} is not an HTTP status code")),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header to the response.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Holds the request for `delay` before answering.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// What a receiver keeps of each request: [`Requests`] or [`Arrivals`].
pub trait Log: Send + 'static {
    /// Keeps what it wants of a request that arrived `at`.
    fn record(&mut self, request: &HttpRequest, body: &[u8], at: Instant);
}

/// Every request whole, for tests that look at what was sent.
#[derive(Debug, Default)]
pub struct Requests(Vec<Received>);

impl Log for Requests {
    fn record(&mut self, request: &HttpRequest, body: &[u8], at: Instant) {
        let headers = request
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.0.push(Received {
            path: request.path().to_owned(),
            headers,
            body: body.to_vec(),
            at,
        });
    }
}

/// Only when each request arrived, keyed by the value of one header (such as `webhook-id`): a
/// few bytes a request, for the benchmark's hundreds of thousands. A request without the header
/// is counted but not kept.
#[derive(Debug)]
pub struct Arrivals {
    /// The header whose value identifies a request.
    header: &'static str,
    /// Every arrival of each value, duplicates included.
    by_value: HashMap<String, Vec<Instant>>,
}

impl Log for Arrivals {
    fn record(&mut self, request: &HttpRequest, _body: &[u8], at: Instant) {
        if let Some(value) = request.headers().get(self.header).and_then(|v| v.to_str().ok()) {
            self.by_value.entry(value.to_owned()).or_default().push(at);
        }
    }
}

/// The replies still to give: the script in order, then the fallback for ever.
struct Replies {
    script: VecDeque<Reply>,
    fallback: Reply,
}

impl Replies {
    fn next(&mut self) -> Reply {
        self.script.pop_front().unwrap_or_else(|| self.fallback.clone())
    }
}

/// What the server's handler and the [`Receiver`] share.
struct State<L> {
    /// What is kept of the requests so far.
    log: Mutex<L>,
    /// What to answer the next request with.
    replies: Mutex<Replies>,
    /// How many requests have arrived, counted once each is in the log: waiting watches it.
    arrived: watch::Sender<usize>,
}

impl<L> State<L> {
    // A handler that panicked mid-request leaves nothing half-written worth refusing to read.
    fn log(&self) -> MutexGuard<'_, L> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replies(&self) -> MutexGuard<'_, Replies> {
        self.replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running receiver; dropping it stops the server and closes its connections.
pub struct Receiver<L: Log = Requests> {
    /// `http://127.0.0.1:<port>`: every path under it is answered (and recorded).
    pub origin: String,
    /// `origin` + `/hook`: an endpoint for tests that need just one.
    pub url: String,
    state: Arc<State<L>>,
    server: ServerHandle,
}

impl Receiver<Requests> {
    /// A receiver that keeps every request whole and answers 200 until told otherwise. Call it
    /// on a Tokio runtime (hence `async`): its server is spawned there.
    pub async fn start() -> io::Result<Receiver> {
        Receiver::serve(Requests::default())
    }

    /// Every request so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.state.log().0.clone()
    }

    /// Waits (up to `timeout`) until at least `n` requests arrived; returns those there are.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(n, timeout).await;
        self.received()
    }
}

impl Receiver<Arrivals> {
    /// A receiver that keeps only when each request arrived, by the value of `header`.
    pub async fn counting_by(header: &'static str) -> io::Result<Receiver<Arrivals>> {
        Receiver::serve(Arrivals {
            header,
            by_value: HashMap::new(),
        })
    }

    /// When each value of the header arrived (every arrival, duplicates included).
    pub fn arrivals(&self) -> HashMap<String, Vec<Instant>> {
        self.state.log().by_value.clone()
    }

    /// How many of `values` have arrived at least once.
    pub fn received_of(&self, values: &[String]) -> usize {
        let log = self.state.log();
        values.iter().filter(|v| log.by_value.contains_key(*v)).count()
    }
}

impl<L: Log> Receiver<L> {
    /// Binds a free port on 127.0.0.1 and serves on the current Tokio runtime.
    fn serve(log: L) -> io::Result<Receiver<L>> {
        let (arrived, _) = watch::channel(0);
        let state = Arc::new(State {
            log: Mutex::new(log),
            replies: Mutex::new(Replies {
                script: VecDeque::new(),
                fallback: Reply::status(200),
            }),
            arrived,
        });
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(receive::<L>))
        })
        .workers(1)
        // The benchmark keeps thousands of connections open at once.
        .max_connections(100_000)
        // Ctrl-C is for the process that runs the receiver, not for the receiver to catch.
        .disable_signals()
        .bind("127.0.0.1:0")?;
        let origin = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Receiver {
            url: format!("{origin}/hook"),
            origin,
            state,
            server: handle,
        })
    }

    /// Queues replies, given in order before the fallback.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.replies().script.extend(replies);
    }

    /// Answers with `reply` once the script is spent (200 until this is called).
    pub fn always(&self, reply: Reply) {
        self.state.replies().fallback = reply;
    }

    /// How many requests have arrived.
    pub fn count(&self) -> usize {
        *self.state.arrived.borrow()
    }

    /// Waits (up to `timeout`) until at least `n` requests arrived, waking on each arrival;
    /// whether they did.
    pub async fn wait_until(&self, n: usize, timeout: Duration) -> bool {
        let mut arrived = self.state.arrived.subscribe();
        let enough = arrived.wait_for(|count| *count >= n);
        // The sender lives in `state`, as long as `self`: waiting fails only on the timeout.
        let arrived_in_time = matches!(tokio::time::timeout(timeout, enough).await, Ok(Ok(_)));
        arrived_in_time
    }

    /// Stops the server once the requests in flight have their answers: waiters wake when a
    /// request arrives, before it is answered. (Dropping the receiver stops it without waiting.)
    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

impl<L: Log> Drop for Receiver<L> {
    fn drop(&mut self) {
        // Stopping is a command sent at once; awaiting its completion is not needed.
        drop(self.server.stop(false));
    }
}

/// Records the request, then answers with the next reply. The body is read even where the log
/// does not keep it, as any receiver that checks signatures does: actix closes a connection
/// whose request body was left unread, which would make every delivery open a new one.
async fn receive<L: Log>(request: HttpRequest, body: web::Bytes, state: web::Data<State<L>>) -> HttpResponse {
    state.log().record(&request, &body, Instant::now());
    state.arrived.send_modify(|count| *count += 1);
    let reply = state.replies().next();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = HttpResponse::build(reply.status);
    for (name, value) in reply.headers {
        response.insert_header((name, value));
    }
    response.body("ok")
}

#[cfg(test)]
mod tests;
