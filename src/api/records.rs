//! The record of what happened: `/v1/events` (accepted triggers with their hydrated payload)
//! and `/v1/deliveries` (status and every attempt), plus manual retry.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{Authorized, ManageDeliveryConfigs, ReadDeliveries};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::list::{ListPage, ListParams};
use super::{method_not_allowed, path_id, query_pairs, AppState};
use crate::domain::attempt::FailureKind;
use crate::domain::delivery::{DeliveryId, DeliveryStatus};
use crate::domain::listing::ListQuery;
use crate::storage::delivery_records::{self, AttemptRecord, DeliveryRecord, RetryOutcome};
use crate::storage::events::{self, EventRecord};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/events")
            .route(web::get().to(list_events))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/events/{id}")
            .route(web::get().to(get_event))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/deliveries")
            .route(web::get().to(list_deliveries))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/deliveries/{id}")
            .route(web::get().to(get_delivery))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/deliveries/{id}/retry")
            .route(web::post().to(retry))
            .default_service(web::to(method_not_allowed)),
    );
}

/// An accepted trigger; `Payload` (the hydrated snapshot) only when read by ID.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EventOut {
    #[serde(rename = "ID")]
    pub id: String,
    pub event_type: String,
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// The sender's idempotency key (the trigger's `ID`).
    #[serde(rename = "TriggerID")]
    pub trigger_id: Option<String>,
    #[serde(rename = "UserID")]
    pub user_id: Option<String>,
    #[serde(rename = "AnonymousID")]
    pub anonymous_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryOut {
    #[serde(rename = "ID")]
    #[schema(value_type = String)]
    pub id: DeliveryId,
    #[serde(rename = "EventID")]
    pub event_id: String,
    #[serde(rename = "TrackingEventID")]
    pub tracking_event_id: String,
    #[serde(rename = "DeliveryConfigID")]
    pub delivery_config_id: String,
    pub target: String,
    /// Pending (queued or in flight), Succeeded, Failed (dead letter) or Skipped.
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    /// When the next attempt is due (Pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// Set while an attempt is in flight.
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub date_created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    /// Every attempt, oldest first (when read by ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptOut>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AttemptOut {
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub status_code: Option<i32>,
    /// Why the attempt failed, when it did.
    pub error_kind: Option<FailureKind>,
    pub error_message: Option<String>,
    /// The start of the response body (at most `delivery.max_response_bytes`).
    pub response_body: Option<String>,
}

impl From<EventRecord> for EventOut {
    fn from(r: EventRecord) -> Self {
        EventOut {
            id: r.id,
            event_type: r.event_type,
            client_id: r.client_id,
            trigger_id: r.trigger_id,
            user_id: r.user_id,
            anonymous_id: r.anonymous_id,
            occurred_at: r.occurred_at,
            received_at: r.received_at,
            payload: r.payload.map(|p| p.0),
        }
    }
}

impl From<DeliveryRecord> for DeliveryOut {
    fn from(r: DeliveryRecord) -> Self {
        DeliveryOut {
            id: r.id,
            event_id: r.event_id,
            tracking_event_id: r.tracking_event_id,
            delivery_config_id: r.delivery_config_id,
            target: r.target,
            status: r.status,
            attempt_count: r.attempt_count,
            next_attempt_at: r.next_attempt_at,
            lease_until: r.lease_until,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            date_created: r.date_created,
            last_updated: r.last_updated,
            attempts: r
                .attempts
                .map(|attempts| attempts.into_iter().map(AttemptOut::from).collect()),
        }
    }
}

impl From<AttemptRecord> for AttemptOut {
    fn from(r: AttemptRecord) -> Self {
        AttemptOut {
            number: r.number,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            status_code: r.status_code,
            error_kind: r.error_kind,
            error_message: r.error_message,
            response_body: r.response_body,
        }
    }
}

/// An event with its hydrated payload and its deliveries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EventDetailOut {
    #[serde(flatten)]
    pub event: EventOut,
    pub deliveries: Vec<DeliveryOut>,
}

/// List accepted events (filters: EventType, ClientID, UserID, AnonymousID, TriggerID,
/// OccurredAt and ReceivedAt with `>`, `>=`, `<`, `<=`).
#[utoipa::path(get, path = "/v1/events", tag = "Records", operation_id = "Events.List", params(ListParams),
    responses((status = 200, body = ListPage<EventOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_events(
    _a: Authorized<ReadDeliveries>,
    s: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query =
        ListQuery::parse(&query_pairs(&req), &events::list_fields()).map_err(|e| ApiError::invalid(e.into()))?;
    let page = events::list(&s.pool, &query).await?.map(EventOut::from);
    Ok(HttpResponse::Ok().json(ListPage::new(&query, page)))
}

/// One event: its hydrated payload snapshot and its deliveries.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "Records", operation_id = "Events.Get", params(("id" = String, Path)),
    responses((status = 200, body = EventDetailOut), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_event(
    _a: Authorized<ReadDeliveries>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let event = events::get(&s.pool, id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("Event", id.as_str()))?;
    let deliveries = delivery_records::of_event(&s.pool, id.as_str()).await?;
    Ok(HttpResponse::Ok().json(EventDetailOut {
        event: event.into(),
        deliveries: deliveries.into_iter().map(DeliveryOut::from).collect(),
    }))
}

/// List deliveries (filters: Status, EventID, DeliveryConfigID, TrackingEventID, Target,
/// DateCreated).
#[utoipa::path(get, path = "/v1/deliveries", tag = "Records", operation_id = "Deliveries.List", params(ListParams),
    responses((status = 200, body = ListPage<DeliveryOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    _a: Authorized<ReadDeliveries>,
    s: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(&query_pairs(&req), &delivery_records::list_fields())
        .map_err(|e| ApiError::invalid(e.into()))?;
    let page = delivery_records::list(&s.pool, &query).await?.map(DeliveryOut::from);
    Ok(HttpResponse::Ok().json(ListPage::new(&query, page)))
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "Records", operation_id = "Deliveries.Get", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryOut), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_delivery(
    _a: Authorized<ReadDeliveries>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = DeliveryId::from(path_id(&id)?);
    let delivery = delivery_records::get(&s.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("Delivery", id.as_str()))?;
    Ok(HttpResponse::Ok().json(DeliveryOut::from(delivery)))
}

/// Send a delivery again now (a failed one, or a succeeded one to replay it).
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "Records", operation_id = "Deliveries.Retry", params(("id" = String, Path)),
    responses((status = 202, body = DeliveryOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn retry(
    _a: Authorized<ManageDeliveryConfigs>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = DeliveryId::from(path_id(&id)?);
    match delivery_records::retry(&s.pool, &id, s.clock.now()).await? {
        RetryOutcome::NotFound => Err(ApiError::not_found("Delivery", id.as_str())),
        RetryOutcome::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InFlight,
            format!("Delivery {id} is being attempted right now."),
            None,
        )),
        RetryOutcome::Queued => {
            let delivery = delivery_records::get(&s.pool, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("Delivery", id.as_str()))?;
            Ok(HttpResponse::Accepted().json(DeliveryOut::from(delivery)))
        }
    }
}
