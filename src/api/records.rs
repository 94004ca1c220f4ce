//! The record of what happened: `/v1/events` (accepted triggers with their hydrated payload)
//! and `/v1/deliveries` (status and every attempt), plus manual retry.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Authorized, ManageDeliveryConfigs, ReadDeliveries};
use super::error::{ApiError, ErrorBody};
use super::list::{ListPage, ListParams};
use super::{method_not_allowed, path_id, query_pairs, AppState};
use crate::domain::listing::ListQuery;
use crate::storage::delivery_records::{self, DeliveryOut, RetryOutcome};
use crate::storage::events::{self, EventOut};

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
    let page = events::list(&s.pool, &query).await?;
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
    Ok(HttpResponse::Ok().json(EventDetailOut { event, deliveries }))
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
    let page = delivery_records::list(&s.pool, &query).await?;
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
    let id = path_id(&id)?;
    let delivery = delivery_records::get(&s.pool, id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("Delivery", id.as_str()))?;
    Ok(HttpResponse::Ok().json(delivery))
}

/// Send a delivery again now (a failed one, or a succeeded one to replay it).
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "Records", operation_id = "Deliveries.Retry", params(("id" = String, Path)),
    responses((status = 202, body = DeliveryOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn retry(
    _a: Authorized<ManageDeliveryConfigs>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    match delivery_records::retry(&s.pool, id.as_str(), s.clock.now()).await? {
        RetryOutcome::NotFound => Err(ApiError::not_found("Delivery", id.as_str())),
        RetryOutcome::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            "InFlight",
            format!("Delivery {id} is being attempted right now."),
            None,
        )),
        RetryOutcome::Queued => {
            let delivery = delivery_records::get(&s.pool, id.as_str())
                .await?
                .ok_or_else(|| ApiError::not_found("Delivery", id.as_str()))?;
            Ok(HttpResponse::Accepted().json(delivery))
        }
    }
}
