//! The outbound HTTP client: one pooled reqwest client for every destination, with connect and
//! total timeouts, redirects never followed, response bodies read only up to a cap, and the
//! [`NetworkGuard`] in front of every connection.

use std::error::Error as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::redirect::Policy;
use url::{Host, Url};

use super::guard::{ForbiddenAddress, NetworkGuard};
use crate::domain::attempt::{AttemptResult, FailureKind};
use crate::domain::retry::retry_after;

/// A request ready to send: what a target module produces from a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    guard: NetworkGuard,
    max_response_bytes: usize,
}

impl OutboundClient {
    pub fn new(guard: NetworkGuard, connect_timeout: Duration, max_response_bytes: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Trackway/", env!("CARGO_PKG_VERSION")))
            .redirect(Policy::none())
            // Every destination is resolved and checked by the guard; a proxy from the
            // environment would be the only address checked.
            .no_proxy()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .dns_resolver(std::sync::Arc::new(guard.clone()))
            .build()?;
        Ok(OutboundClient {
            client,
            guard,
            max_response_bytes,
        })
    }

    /// POSTs the request and reports what happened; never fails itself.
    pub async fn send(&self, request: &PreparedRequest, timeout: Duration) -> AttemptResult {
        let started = Instant::now();
        let mut result = self.exchange(request, timeout).await;
        result.duration = started.elapsed();
        result
    }

    async fn exchange(&self, request: &PreparedRequest, timeout: Duration) -> AttemptResult {
        if let Err(forbidden) = self.check_literal_host(&request.url) {
            return AttemptResult::failed(FailureKind::ForbiddenAddress, forbidden.to_string());
        }
        let headers = match header_map(&request.headers) {
            Ok(headers) => headers,
            Err(message) => return AttemptResult::failed(FailureKind::Request, message),
        };
        let sent = self
            .client
            .post(request.url.clone())
            .headers(headers)
            .body(request.body.clone())
            .timeout(timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => return classify(&err),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, chrono::Utc::now()));
        let mut body = Vec::new();
        // Read only as much as is kept; the rest is dropped with the connection's next use.
        while body.len() < self.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(err) if err.is_timeout() => return classify(&err),
                Err(_) => break,
            }
        }
        body.truncate(self.max_response_bytes);
        let failure = if status.is_success() {
            None
        } else if status.is_redirection() {
            Some((FailureKind::Redirect, format!("{status}: redirects are not followed")))
        } else {
            Some((FailureKind::Status, format!("the destination answered {status}")))
        };
        AttemptResult {
            status_code: Some(status.as_u16()),
            failure,
            retry_after,
            response_body: Some(String::from_utf8_lossy(&body).into_owned()),
            duration: Duration::ZERO,
        }
    }

    fn check_literal_host(&self, url: &Url) -> Result<(), ForbiddenAddress> {
        let ip: Option<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        match ip {
            Some(ip) => self.guard.check_literal(url.host_str().unwrap_or_default(), ip),
            None => Ok(()),
        }
    }
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Maps a transport error to its kind, with a message a customer can act on.
fn classify(err: &reqwest::Error) -> AttemptResult {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(forbidden) = cause.downcast_ref::<ForbiddenAddress>() {
            return AttemptResult::failed(FailureKind::ForbiddenAddress, forbidden.to_string());
        }
        source = cause.source();
    }
    let chain = error_chain(err);
    let kind = if err.is_timeout() {
        FailureKind::Timeout
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        FailureKind::Dns
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
        FailureKind::Tls
    } else if err.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Request
    };
    AttemptResult::failed(kind, chain)
}

fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
