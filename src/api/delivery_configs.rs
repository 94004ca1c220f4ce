//! `/v1/integrations/deliveryconfig`: where events go. Reads show secrets masked. A write that
//! changes the Http target's Secret rotates it, as `…/rotatesecret` ([`rotation`]) does.

pub mod rotation;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{Authorized, ManageDeliveryConfigs};
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::list::{ListPage, ListParams};
use super::{created, merged, method_not_allowed, path_id, query_pairs, saved_response, AppState};
use crate::delivery::TestOutcome;
use crate::domain::attempt::FailureKind;
use crate::domain::listing::ListQuery;
use crate::domain::targets::TargetKind;
use crate::domain::{DeliveryConfig, DeliveryConfigDoc, ResourceId};
use crate::storage::delivery_configs as store;
use crate::storage::delivery_records;
use crate::storage::Saved;

const COLLECTION: &str = "/v1/integrations/deliveryconfig";
const KIND: &str = "DeliveryConfig";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/integrations/deliveryconfig")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/integrations/deliveryconfig/{id}")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/integrations/deliveryconfig/{id}/recover")
            .route(web::post().to(recover))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/integrations/deliveryconfig/{id}/test")
            .route(web::post().to(test))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/integrations/deliveryconfig/{id}/rotatesecret")
            .route(web::post().to(rotation::rotate_secret))
            .default_service(web::to(method_not_allowed)),
    );
}

/// List DeliveryConfigs.
#[utoipa::path(get, path = "/v1/integrations/deliveryconfig", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.List",
    params(ListParams),
    responses(
        (status = 200, body = ListPage<DeliveryConfigDoc>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(&query_pairs(&req), &store::list_fields()).map_err(|e| ApiError::invalid(e.into()))?;
    let mut page = store::list(&state.pool, &query).await?;
    let now = state.clock.now();
    page.items = page.items.iter().map(|doc| doc.masked(now)).collect();
    Ok(HttpResponse::Ok().json(ListPage::new(&query, page)))
}

/// Create a DeliveryConfig (409 when the ID exists).
#[utoipa::path(post, path = "/v1/integrations/deliveryconfig", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.Create",
    request_body = DeliveryConfigDoc,
    responses(
        (status = 201, body = DeliveryConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    body: JsonBody<DeliveryConfigDoc>,
) -> Result<HttpResponse, ApiError> {
    let config = DeliveryConfig::parse(&body.0, None).map_err(ApiError::invalid)?;
    let doc = store::insert(&state.pool, &config).await?;
    Ok(created(COLLECTION, config.id.as_str(), &doc.masked(state.clock.now())))
}

/// Get one DeliveryConfig.
#[utoipa::path(get, path = "/v1/integrations/deliveryconfig/{id}", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.Get",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    responses(
        (status = 200, body = DeliveryConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let doc = store::get(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
    Ok(HttpResponse::Ok().json(doc.masked(state.clock.now())))
}

/// Create or replace a DeliveryConfig. Masked secrets sent back unchanged keep their stored
/// value; a different Http `Secret` rotates it: the replaced one signs beside it for
/// `delivery.secret_rotation_grace_hours` (24).
#[utoipa::path(put, path = "/v1/integrations/deliveryconfig/{id}", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.Save",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    request_body = DeliveryConfigDoc,
    responses(
        (status = 200, description = "Replaced", body = DeliveryConfigDoc),
        (status = 201, description = "Created", body = DeliveryConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<DeliveryConfigDoc>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let saved = store::save_with(&state.pool, &id, |stored| {
        successor(&state, &id, body.0, stored.as_ref())
    })
    .await?;
    Ok(saved_response(
        COLLECTION,
        id.as_str(),
        masked(saved, state.clock.now()),
    ))
}

/// Merge fields into a DeliveryConfig (JSON Merge Patch: `null` removes a field). A different
/// Http `Secret` rotates it, as for PUT.
#[utoipa::path(patch, path = "/v1/integrations/deliveryconfig/{id}", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.Patch",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    request_body(content = Object, description = "The fields to change"),
    responses(
        (status = 200, body = DeliveryConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let saved = store::save_with(&state.pool, &id, |stored| {
        let stored = stored.ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
        let doc = merged(&stored, body.0)?;
        successor(&state, &id, doc, Some(&stored))
    })
    .await?;
    Ok(HttpResponse::Ok().json(saved.doc.masked(state.clock.now())))
}

/// Delete a DeliveryConfig (409 listing the TrackingEvents that still use it).
#[utoipa::path(delete, path = "/v1/integrations/deliveryconfig/{id}", tag = "DeliveryConfigs", operation_id = "DeliveryConfigs.Delete",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    _auth: Authorized<ManageDeliveryConfigs>,
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

/// `doc`, sent to replace `stored`, as the DeliveryConfig to save: masked secrets keep their
/// stored values, and a different Http Secret starts a rotation (read under the row's lock, so
/// that two writes cannot both replace the same Secret).
fn successor(
    state: &AppState,
    id: &ResourceId,
    mut doc: DeliveryConfigDoc,
    stored: Option<&DeliveryConfigDoc>,
) -> Result<DeliveryConfig, ApiError> {
    if let Some(stored) = stored {
        doc.restore_masked(stored);
    }
    let mut config = DeliveryConfig::parse(&doc, Some(id)).map_err(ApiError::invalid)?;
    let stored_targets = stored.and_then(|s| s.delivery_targets.as_ref());
    config
        .targets
        .succeed(stored_targets, state.clock.now(), state.secret_rotation_grace);
    Ok(config)
}

fn masked(saved: Saved<DeliveryConfigDoc>, now: DateTime<Utc>) -> Saved<DeliveryConfigDoc> {
    Saved {
        doc: saved.doc.masked(now),
        created: saved.created,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RecoverIn {
    /// Re-queue failed deliveries created at or after this time (RFC 3339); all when omitted.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RecoverOut {
    /// How many failed deliveries were queued again.
    pub requeued: u64,
}

/// Re-queue this DeliveryConfig's failed deliveries and re-enable its disabled targets.
#[utoipa::path(post, path = "/v1/integrations/deliveryconfig/{id}/recover", tag = "DeliveryConfigs",
    operation_id = "DeliveryConfigs.Recover",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    request_body = RecoverIn,
    responses((status = 200, body = RecoverOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn recover(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<RecoverIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let requeued = delivery_records::recover(&state.pool, id.as_str(), body.0.since, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
    Ok(HttpResponse::Ok().json(RecoverOut { requeued }))
}

/// What a test send to one target did. `Success` is true only when a request was sent and
/// answered with a 2xx; a target that could not express the sample reports `Skipped` instead.
#[derive(Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TestResultOut {
    pub target: TargetKind,
    /// A request was sent and the destination answered with a 2xx.
    pub success: bool,
    /// Nothing was sent: the target cannot express the sample (`Reason` says why). Never a success.
    pub skipped: bool,
    /// Why nothing was sent, when `Skipped`.
    pub reason: Option<String>,
    /// The destination's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why the request failed, when it did.
    pub error_kind: Option<FailureKind>,
    pub error_message: Option<String>,
    /// The start of the destination's answer (at most `delivery.max_response_bytes`).
    pub response_body: Option<String>,
    /// How long the request took; 0 when nothing was sent.
    pub duration_ms: f64,
}

impl TestResultOut {
    fn new(target: TargetKind, outcome: TestOutcome) -> Self {
        match outcome {
            TestOutcome::Sent(result) => TestResultOut {
                target,
                success: result.failure.is_none(),
                skipped: false,
                reason: None,
                status_code: result.status_code,
                error_kind: result.failure.as_ref().map(|(kind, _)| *kind),
                error_message: result.failure.map(|(_, message)| message),
                response_body: result.response_body,
                duration_ms: result.duration.as_secs_f64() * 1e3,
            },
            TestOutcome::Skipped(reason) => TestResultOut {
                target,
                success: false,
                skipped: true,
                reason: Some(reason),
                status_code: None,
                error_kind: None,
                error_message: None,
                response_body: None,
                duration_ms: 0.0,
            },
        }
    }
}

/// Send a sample to each of the DeliveryConfig's targets now and report what each answered.
///
/// Http targets get a test message (`EventType: "Test"`); SendEvent, DiscoverEvent and Segment
/// get a sample `LineItemAdded` (user `trackway-test-user`, anonymous ID
/// `trackway-test-anonymous`, product `trackway-test-product`) rendered as a real event would
/// be: Sitecore Send `ADDED_TO_ORDER`, Discover `a2c:cart`, Segment `Product Added`. A target
/// that cannot express the sample reports `Skipped`, never `Success`. Nothing is queued or retried.
#[utoipa::path(post, path = "/v1/integrations/deliveryconfig/{id}/test", tag = "DeliveryConfigs",
    operation_id = "DeliveryConfigs.Test",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    responses((status = 200, body = Vec<TestResultOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn test(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let doc = store::get(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
    let config = DeliveryConfig::parse_stored(&doc, &id).map_err(ApiError::invalid)?;
    let results = state.dispatcher.test(&config, state.clock.now()).await;
    Ok(HttpResponse::Ok().json(
        results
            .into_iter()
            .map(|(target, outcome)| TestResultOut::new(target, outcome))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attempt::{AttemptResult, FailureKind};

    #[test]
    fn a_skip_is_reported_as_a_skip_never_as_a_success() {
        let out = TestResultOut::new(TargetKind::Segment, TestOutcome::Skipped("no such event".into()));
        assert!(!out.success && out.skipped, "{out:?}");
        assert_eq!(out.reason.as_deref(), Some("no such event"));
        assert_eq!((out.status_code, out.error_kind), (None, None));
    }

    #[test]
    fn a_sent_request_reports_what_came_back() {
        let mut refused = AttemptResult::failed(FailureKind::Rejected, "Segment refused the request");
        refused.status_code = Some(400);
        refused.response_body = Some("bad".into());
        let out = TestResultOut::new(TargetKind::Segment, TestOutcome::Sent(refused));
        assert!(!out.success && !out.skipped, "{out:?}");
        assert_eq!(out.status_code, Some(400));
        assert_eq!(out.error_kind, Some(FailureKind::Rejected));
        assert_eq!(out.response_body.as_deref(), Some("bad"));
        let connect = AttemptResult::failed(FailureKind::Connect, "refused");
        let out = TestResultOut::new(TargetKind::Http, TestOutcome::Sent(connect));
        assert!(!out.success && !out.skipped && out.reason.is_none(), "{out:?}");
    }
}
