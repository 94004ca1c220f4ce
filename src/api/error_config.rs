//! `/v1/integrations/ErrorConfig`: the singleton naming the DeliveryConfig that receives a
//! notice whenever a delivery is given up on.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::auth::{Authorized, ManageErrorConfig};
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::{merged, method_not_allowed, AppState};
use crate::domain::ErrorConfigDoc;
use crate::storage::error_config as store;

const PATH: &str = "/v1/integrations/ErrorConfig";
const KIND: &str = "ErrorConfig";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/integrations/ErrorConfig")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Get the ErrorConfig (404 when none is set).
#[utoipa::path(get, path = "/v1/integrations/ErrorConfig", tag = "ErrorConfig", operation_id = "ErrorConfig.Get",
    responses(
        (status = 200, body = ErrorConfigDoc),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(_auth: Authorized<ManageErrorConfig>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current(&state).await?))
}

/// Set the ErrorConfig (201 when it was unset, 200 when replaced).
#[utoipa::path(put, path = "/v1/integrations/ErrorConfig", tag = "ErrorConfig", operation_id = "ErrorConfig.Save",
    request_body = ErrorConfigDoc,
    responses(
        (status = 200, body = ErrorConfigDoc), (status = 201, body = ErrorConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    _auth: Authorized<ManageErrorConfig>,
    state: web::Data<AppState>,
    body: JsonBody<ErrorConfigDoc>,
) -> Result<HttpResponse, ApiError> {
    save(&state, &body.0).await
}

/// Merge fields into the ErrorConfig.
#[utoipa::path(patch, path = "/v1/integrations/ErrorConfig", tag = "ErrorConfig", operation_id = "ErrorConfig.Patch",
    request_body(content = Object, description = "The fields to change"),
    responses(
        (status = 200, body = ErrorConfigDoc),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    _auth: Authorized<ManageErrorConfig>,
    state: web::Data<AppState>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let doc = merged(&current(&state).await?, body.0)?;
    save(&state, &doc).await
}

/// Unset the ErrorConfig.
#[utoipa::path(delete, path = "/v1/integrations/ErrorConfig", tag = "ErrorConfig", operation_id = "ErrorConfig.Delete",
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    _auth: Authorized<ManageErrorConfig>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if store::delete(&state.pool).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(KIND, KIND))
    }
}

async fn current(state: &AppState) -> Result<ErrorConfigDoc, ApiError> {
    let id = store::get(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, KIND))?;
    Ok(ErrorConfigDoc {
        delivery_config_id: Some(id.to_string()),
    })
}

async fn save(state: &AppState, doc: &ErrorConfigDoc) -> Result<HttpResponse, ApiError> {
    let id = doc.parse().map_err(ApiError::invalid)?;
    let created = store::set(&state.pool, &id).await?;
    let body = ErrorConfigDoc {
        delivery_config_id: Some(id.to_string()),
    };
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, PATH))
            .json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}
