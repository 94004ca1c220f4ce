//! The HTTP API: actix handlers, one file per resource, and the pieces every handler shares —
//! authentication ([`auth`]), the JSON body extractor ([`json`]), OrderCloud-shaped errors
//! ([`error`]), list responses ([`list`]) and case-insensitive routing ([`paths`]).
//! Handlers parse into domain types and call `storage`; they never write SQL.

pub mod auth;
pub mod delivery_configs;
pub mod entities;
pub mod error;
pub mod error_config;
pub mod health;
pub mod json;
pub mod list;
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
use crate::domain::{Invalids, ResourceId};
use crate::storage::ingest::Ingester;
use crate::storage::Saved;
use error::ApiError;

/// What handlers share, behind `web::Data`.
pub struct AppState {
    pub pool: PgPool,
    /// The engine's time: manual in tests, the system clock otherwise.
    pub clock: Clock,
    /// For `POST .../test`, which sends outside the queue.
    pub dispatcher: Arc<Dispatcher>,
    /// Admission control for trigger requests: past `server.max_concurrent_triggers` in
    /// progress, new ones get an immediate 503 with Retry-After instead of queueing for
    /// database connections until they time out.
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

/// Registers every route. `/v1` sits behind [`auth::authenticate`] (and trigger routes behind
/// [`triggers::admission`] before that); health and the spec do not.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(auth::authenticate))
            .wrap(from_fn(triggers::admission))
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

/// The 405 for a known path and a method it does not take.
pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed(req.method().as_str(), req.path()))
}

/// Middleware: one log line per request, with its outcome and duration.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    Ok(response)
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
