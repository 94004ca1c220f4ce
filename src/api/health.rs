//! Liveness and readiness for orchestrators: `/health/live` answers while the process runs;
//! `/health/ready` only while the database answers too.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::storage;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HealthOut {
    /// `Live` or `Ready`.
    pub status: &'static str,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "Health", operation_id = "Health.Live", responses((status = 200, body = HealthOut)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthOut { status: "Live" })
}

/// The process is up and its database answers.
#[utoipa::path(get, path = "/health/ready", tag = "Health", operation_id = "Health.Ready",
    responses((status = 200, body = HealthOut), (status = 503, body = ErrorBody)))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), storage::ping(&state.pool)).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(HealthOut { status: "Ready" })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::unavailable("The database is not reachable."))
        }
        Err(_) => Err(ApiError::unavailable("The database did not answer within 2 s.")),
    }
}
