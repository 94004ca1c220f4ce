//! `POST /v1/integrations/deliveryconfig/{id}/rotatesecret`: gives the Http target a new Secret
//! while the current one keeps signing beside it for a grace period, so that receivers switch
//! without losing a delivery (see `domain::targets` for the rules, shared with PUT and PATCH).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::KIND;
use crate::api::auth::{Authorized, ManageDeliveryConfigs};
use crate::api::error::{ApiError, ErrorBody, ErrorCode};
use crate::api::json::JsonBody;
use crate::api::{path_id, AppState};
use crate::domain::targets::{RotationRefused, SecretRotation};
use crate::domain::{DeliveryConfig, Invalid, InvalidCode, Invalids, ResourceId};
use crate::storage::delivery_configs as store;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RotateSecretIn {
    /// The new Secret (at most 512 bytes; a `whsec_` one is base64-decoded for Standard
    /// Webhooks, as ever). Omitted, Trackway generates one: `whsec_` and 32 random bytes in
    /// base64, returned once in the response.
    pub secret: Option<String>,
    /// Hours the current Secret keeps signing beside the new one, 0 (it stops at once, for a
    /// Secret that leaked) to 168; default `delivery.secret_rotation_grace_hours` (24).
    pub grace_period_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretOut {
    /// The Secret Trackway generated, when the request named none: shown this once only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the replaced Secret signs beside the new one; absent when nothing else signs
    /// (there was no Secret, or `GracePeriodHours` was 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// Give the Http target a new Secret, the current one signing beside it for a grace period.
///
/// Until `PreviousExpiresAt`, `webhook-signature` carries a `v1,` signature by each Secret, the
/// new one first, and reads show `DeliveryTargets.Http.SecretRotation.PreviousExpiresAt`;
/// `X-oc-hash` is the new Secret's from now on. Deliveries and test deliveries alike are signed
/// so, retries included. A rotation during another's grace period retires the oldest Secret at
/// once. An omitted `Secret` is generated and returned, once.
#[utoipa::path(post, path = "/v1/integrations/deliveryconfig/{id}/rotatesecret", tag = "DeliveryConfigs",
    operation_id = "DeliveryConfigs.RotateSecret",
    params(("id" = String, Path, description = "DeliveryConfig ID")),
    request_body = RotateSecretIn,
    responses(
        (status = 200, body = RotateSecretOut),
        (status = 400, description = "`InvalidValue`: `Secret` is empty, the mask (`********`), longer \
            than 512 bytes or the current Secret, or `GracePeriodHours` is outside 0 to 168 (Data.Field \
            names it); or the body is refused as any other.", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`NoHttpTarget`: the DeliveryConfig has no Http target, hence no Secret.",
            body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    _auth: Authorized<ManageDeliveryConfigs>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<RotateSecretIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let request = body.0;
    let rotation = SecretRotation::parse(
        request.secret.as_deref(),
        request.grace_period_hours,
        state.secret_rotation_grace,
    )
    .map_err(ApiError::invalid)?;
    let mut previous_expires_at = None;
    store::save_with(&state.pool, &id, |stored| {
        let stored = stored.ok_or_else(|| ApiError::not_found(KIND, id.as_str()))?;
        let mut config = DeliveryConfig::parse_stored(&stored, &id).map_err(ApiError::invalid)?;
        previous_expires_at = config
            .targets
            .rotate_secret(&rotation, state.clock.now())
            .map_err(|refused| refusal(&id, refused))?;
        Ok(config)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RotateSecretOut {
        secret: rotation.generated.then(|| rotation.secret.expose_secret().to_owned()),
        previous_expires_at,
    }))
}

fn refusal(id: &ResourceId, refused: RotationRefused) -> ApiError {
    match refused {
        RotationRefused::NoHttpTarget => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NoHttpTarget,
            format!("DeliveryConfig {id} has no Http target, hence no Secret to rotate."),
            Some(json!({ "ObjectType": KIND, "ObjectID": id.as_str() })),
        ),
        RotationRefused::SameSecret => ApiError::invalid(Invalids::from(Invalid::new(
            InvalidCode::InvalidValue,
            "Secret",
            "Secret is the current Secret: a rotation needs a different one.",
        ))),
    }
}
