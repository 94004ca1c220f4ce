//! The HTTP API: actix handlers, one file per resource, and the pieces every handler shares —
//! authentication ([`auth`]), the JSON body extractor ([`json`]) and its nesting limit
//! ([`nesting`]), OrderCloud-shaped errors ([`error`]), list responses ([`list`]) and
//! case-insensitive routing ([`paths`]).
//! Handlers parse into domain types and call `storage`; they never write SQL.

pub mod auth;
pub mod delivery_configs;
pub mod entities;
pub mod error;
pub mod error_code;
pub mod error_config;
pub mod health;
pub mod json;
pub mod list;
pub mod nesting;
pub mod openapi;
pub mod paths;
pub mod records;
pub mod tracking_events;
pub mod triggers;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;

use crate::clock::Clock;
use crate::delivery::Dispatcher;

use crate::domain::merge::merge_patch;
use crate::domain::targets::GracePeriod;
use crate::domain::{Invalids, ResourceId};
use crate::ingest::Ingester;
use crate::storage::Saved;
use error::{ApiError, ErrorCode};

/// What handlers share, behind `web::Data`.
pub struct AppState {
    pub pool: PgPool,
    /// The engine's time: manual in tests, the system clock otherwise.
    pub clock: Clock,
    /// For `POST .../test`, which sends outside the queue.
    pub dispatcher: Arc<Dispatcher>,
    /// How long a replaced Http Secret keeps signing (`delivery.secret_rotation_grace_hours`).
    pub secret_rotation_grace: GracePeriod,
    /// Admission control for trigger requests: past `server.max_concurrent_triggers` being
    /// accepted (their bodies read), new ones get an immediate 503 with Retry-After instead
    /// of queueing for database connections until they time out.
    pub triggers_in_progress: Arc<tokio::sync::Semaphore>,
    /// Accepts triggers in batches (group commit).
    pub ingest: Ingester,
    /// API keys recently found.
    pub api_keys: auth::KeyCache,
}

impl AppState {
    /// The state, from a middleware's request.
    pub(crate) fn of(req: &ServiceRequest) -> Result<&web::Data<AppState>, ApiError> {
        req.app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))
    }
}

/// Registers every route. `/v1` sits behind [`auth::authenticate`]; health and the spec do not.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(auth::authenticate))
            .configure(delivery_configs::configure)
            .configure(tracking_events::configure)
            .configure(error_config::configure)
            .configure(triggers::configure)
            .configure(entities::configure)
            .configure(records::configure)
            .default_service(web::to(not_found)),
    )
    .configure(health::configure)
    .route("/openapi.yaml", web::get().to(openapi::serve_yaml))
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::route_not_found(req.path()))
}

/// The 405 for a known path and a method it does not take, with the methods it does take
/// (`Allow`, which RFC 9110 requires of a 405).
pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = req
        .match_pattern()
        .and_then(|pattern| openapi::allowed_methods().get(&pattern).cloned());
    Err(ApiError::method_not_allowed(req.method().as_str(), req.path(), allowed))
}

/// Middleware: one log line per request, with its outcome and duration — refusals by the
/// middleware inside it (a 401) included.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await;
    let status = match &response {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    tracing::info!(
        %method,
        path,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// The longest request target (path and query) answered; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header fields, and header bytes, a request may carry; more get 431.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Middleware: refuses an over-long request target or header section with the API's JSON
/// error. These limits sit below those of the HTTP parser itself (a URI of 64 KiB, a head of
/// 128 KiB or 96 header fields), which closes the connection with an empty 400 or 431.
pub async fn limit_head(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::new(
            actix_web::http::StatusCode::URI_TOO_LONG,
            ErrorCode::UriTooLong,
            format!("The request's path and query are {target} bytes long; at most {MAX_URI_BYTES} are accepted."),
            Some(serde_json::json!({ "Limit": MAX_URI_BYTES })),
        )
        .into());
    }
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!(
                "The request carries {} header fields in {header_bytes} bytes; at most {MAX_HEADERS} fields and \
                 {MAX_HEADER_BYTES} bytes are accepted.",
                headers.len()
            ),
            Some(serde_json::json!({ "MaxFields": MAX_HEADERS, "MaxBytes": MAX_HEADER_BYTES })),
        )
        .into());
    }
    next.call(req).await
}

/// Parses the `{id}` of a path as the ID of a `kind`.
pub(crate) fn path_id(raw: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse("ID", raw).map_err(|e| ApiError::invalid(Invalids::from(e)))
}

/// The query string as ordered pairs (filters may repeat and keep their order).
pub(crate) fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// A PATCH: the stored document with `patch` merged in (RFC 7386), decoded again so unknown
/// fields and wrong types are reported exactly as for PUT.
pub(crate) fn merged<T: Serialize + DeserializeOwned>(stored: &T, patch: Value) -> Result<T, ApiError> {
    let mut document = serde_json::to_value(stored).map_err(|e| ApiError::internal(e.into()))?;
    merge_patch(&mut document, patch);
    json::decode_value(document)
}

/// 201 with a Location when a PUT created the resource, 200 when it replaced it.
pub(crate) fn saved_response<T: Serialize>(collection: &str, id: &str, saved: Saved<T>) -> HttpResponse {
    if saved.created {
        created(collection, id, &saved.doc)
    } else {
        HttpResponse::Ok().json(saved.doc)
    }
}

pub(crate) fn created<T: Serialize>(collection: &str, id: &str, doc: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{collection}/{id}")))
        .json(doc)
}
