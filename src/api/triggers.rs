//! `/v1/triggers`: the commerce platform's way in. A trigger is parsed completely before
//! anything is written; an accepted one gets 202 only after its transaction committed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use utoipa::ToSchema;

use super::auth::{Authorized, SendTriggers};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::json::{decode_value, JsonBody};
use super::nesting::{self, BATCH_MAX_DEPTH};
use super::{method_not_allowed, AppState};
use crate::domain::trigger::{Trigger, TriggerDoc};
use crate::ingest::{self, TriggerOut};

pub const MAX_BATCH: usize = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/triggers")
            .route(web::post().to(post))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/triggers/batch")
            .route(web::post().to(batch))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Accept one trigger: 202 with the event's ID, its deliveries and any missing entities.
/// Repeating a trigger `ID` (same ClientID) returns the first response and sends nothing again.
#[utoipa::path(post, path = "/v1/triggers", tag = "Triggers", operation_id = "Triggers.Post",
    request_body = TriggerDoc,
    responses(
        (status = 202, body = TriggerOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, description = "Overloaded: retry after the Retry-After seconds", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn post(
    auth: Authorized<SendTriggers>,
    state: web::Data<AppState>,
    body: JsonBody<TriggerDoc>,
) -> Result<HttpResponse, ApiError> {
    let _admitted = admit(&state)?;
    let accepted = accept(&auth, &state, &body.0).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Idempotent-Replayed", if accepted.replayed { "true" } else { "false" }))
        .json(accepted.body))
}

/// Admission control for trigger requests, taken once the body has been read (a slow sender
/// holds its own connection, never a place of others): past `server.max_concurrent_triggers`
/// being accepted, a new one gets an immediate 503 with Retry-After instead of queueing for
/// the ingest writers; nothing of it is stored. The place is held until the response.
fn admit(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state.triggers_in_progress.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            "Too many triggers are being accepted right now; retry in a second. Nothing was stored.",
            None,
        )
        .with_retry_after(1)
    })
}

async fn accept(
    auth: &Authorized<SendTriggers>,
    state: &AppState,
    doc: &TriggerDoc,
) -> Result<ingest::Accepted, ApiError> {
    let trigger = Trigger::parse(doc).map_err(ApiError::invalid)?;
    auth.check_client(&trigger.client_id)?;
    Ok(state.ingest.accept(trigger).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TriggerBatchIn {
    /// Up to 500 triggers, each accepted or refused on its own.
    #[schema(value_type = Vec<TriggerDoc>)]
    pub triggers: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerBatchOut {
    /// One result per trigger, in order.
    pub results: Vec<TriggerResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerResult {
    /// 202 when accepted; the 4xx/5xx the trigger would have got alone otherwise.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TriggerOut>)]
    pub body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorBody>,
}

/// Accept many triggers, each on its own: one bad item does not sink the rest. They are
/// accepted concurrently, so they share transactions like triggers sent at the same time.
#[utoipa::path(post, path = "/v1/triggers/batch", tag = "Triggers", operation_id = "Triggers.PostBatch",
    request_body = TriggerBatchIn,
    responses(
        (status = 200, body = TriggerBatchOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn batch(
    auth: Authorized<SendTriggers>,
    state: web::Data<AppState>,
    body: JsonBody<TriggerBatchIn, BATCH_MAX_DEPTH>,
) -> Result<HttpResponse, ApiError> {
    let _admitted = admit(&state)?;
    let triggers = body.0.triggers;
    if triggers.is_empty() || triggers.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidValue,
            format!("Triggers must hold 1 to {MAX_BATCH} triggers; got {}.", triggers.len()),
            Some(serde_json::json!({ "Field": "Triggers" })),
        ));
    }
    let outcomes = futures_util::future::join_all(triggers.into_iter().map(|item| {
        let (auth, state) = (&auth, &state);
        async move {
            nesting::check_value(&item)?;
            let doc = decode_value::<TriggerDoc>(item)?;
            accept(auth, state, &doc).await
        }
    }))
    .await;
    let mut results = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        results.push(match outcome {
            Ok(accepted) => TriggerResult {
                status: 202,
                body: Some(accepted.body),
                errors: None,
            },
            Err(err) => {
                use actix_web::ResponseError;
                err.log_cause();
                TriggerResult {
                    status: err.status_code().as_u16(),
                    body: None,
                    errors: Some(err.body()),
                }
            }
        });
    }
    Ok(HttpResponse::Ok().json(TriggerBatchOut { results }))
}
