//! `/v1/integrations/trackingEvents`: which events, from which API client, go to which
//! DeliveryConfig. Readable with `TrackingEventReader`; writes need `TrackingEventAdmin`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::auth::{Authorized, ManageTrackingEvents, ReadTrackingEvents};
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::list::{ListPage, ListParams};
use super::{created, merged, method_not_allowed, path_id, query_pairs, saved_response, AppState};
use crate::domain::listing::ListQuery;
use crate::domain::{TrackingEvent, TrackingEventDoc};
use crate::storage::tracking_events as store;

const COLLECTION: &str = "/v1/integrations/trackingEvents";
const KIND: &str = "TrackingEvent";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/integrations/trackingEvents")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/integrations/trackingEvents/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

/// List TrackingEvents.
#[utoipa::path(get, path = "/v1/integrations/trackingEvents", tag = "TrackingEvents", operation_id = "TrackingEvents.List",
    params(ListParams),
    responses(
        (status = 200, body = ListPage<TrackingEventDoc>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    _auth: Authorized<ReadTrackingEvents>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(&query_pairs(&req), &store::list_fields()).map_err(|e| ApiError::invalid(e.into()))?;
    let page = store::list(&state.pool, &query).await?;
    Ok(HttpResponse::Ok().json(ListPage::new(&query, page)))
}

/// Create a TrackingEvent (409 when the ID exists; 400 when its DeliveryConfig does not).
#[utoipa::path(post, path = "/v1/integrations/trackingEvents", tag = "TrackingEvents", operation_id = "TrackingEvents.Create",
    request_body = TrackingEventDoc,
    responses(
        (status = 201, body = TrackingEventDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    _auth: Authorized<ManageTrackingEvents>,
    state: web::Data<AppState>,
    body: JsonBody<TrackingEventDoc>,
) -> Result<HttpResponse, ApiError> {
    let event = TrackingEvent::parse(&body.0, None).map_err(ApiError::invalid)?;
    let doc = store::insert(&state.pool, &event).await?;
    Ok(created(COLLECTION, event.id.as_str(), &doc))
}

/// Get one TrackingEvent.
#[utoipa::path(get, path = "/v1/integrations/trackingEvents/{id}", tag = "TrackingEvents", operation_id = "TrackingEvents.Get",
    params(("id" = String, Path, description = "TrackingEvent ID")),
    responses(
        (status = 200, body = TrackingEventDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    _auth: Authorized<ReadTrackingEvents>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let doc = store::get(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Create or replace a TrackingEvent.
#[utoipa::path(put, path = "/v1/integrations/trackingEvents/{id}", tag = "TrackingEvents", operation_id = "TrackingEvents.Save",
    params(("id" = String, Path, description = "TrackingEvent ID")),
    request_body = TrackingEventDoc,
    responses(
        (status = 200, description = "Replaced", body = TrackingEventDoc),
        (status = 201, description = "Created", body = TrackingEventDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    _auth: Authorized<ManageTrackingEvents>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<TrackingEventDoc>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let saved = store::save_with(&state.pool, &id, |_stored| {
        TrackingEvent::parse(&body.0, Some(&id)).map_err(ApiError::invalid)
    })
    .await?;
    Ok(saved_response(COLLECTION, id.as_str(), saved))
}

/// Merge fields into a TrackingEvent (JSON Merge Patch: `null` removes a field).
#[utoipa::path(patch, path = "/v1/integrations/trackingEvents/{id}", tag = "TrackingEvents", operation_id = "TrackingEvents.Patch",
    params(("id" = String, Path, description = "TrackingEvent ID")),
    request_body(content = Object, description = "The fields to change"),
    responses(
        (status = 200, body = TrackingEventDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    _auth: Authorized<ManageTrackingEvents>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let saved = store::save_with(&state.pool, &id, |stored| {
        let stored = stored.ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
        let doc = merged(&stored, body.0)?;
        TrackingEvent::parse(&doc, Some(&id)).map_err(ApiError::invalid)
    })
    .await?;
    Ok(HttpResponse::Ok().json(saved.doc))
}

/// Delete a TrackingEvent.
#[utoipa::path(delete, path = "/v1/integrations/trackingEvents/{id}", tag = "TrackingEvents", operation_id = "TrackingEvents.Delete",
    params(("id" = String, Path, description = "TrackingEvent ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    _auth: Authorized<ManageTrackingEvents>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    if store::delete(&state.pool, &id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(KIND, id.as_str()))
    }
}
