//! Authentication and authorization. [`authenticate`] (middleware on `/v1`) turns the bearer
//! token into the caller's [`ApiKey`] before any handler or body parsing runs, so a request
//! without a valid key gets 401 whatever else is wrong with it. Handlers then state what they
//! need in their signature with [`Authorized<P>`], which answers 403 when the key lacks it.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::clock::Clock;
use crate::domain::api_key::{token_hash, ApiKey};
use crate::domain::Role;
use crate::storage;

/// Middleware: resolves `Authorization: Bearer <token>` to a live API key.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let token = bearer_token(req.request())?;
    let state = AppState::of(&req)?;
    let hash = token_hash(&token);
    let key = match state.api_keys.get(&hash) {
        Some(key) => key,
        None => {
            let key = storage::api_keys::find_by_token_hash(&state.pool, &hash)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| {
                    ApiError::unauthorized(ErrorCode::InvalidToken, "The API key is unknown or has been revoked.")
                })?;
            state.api_keys.put(hash, &key);
            key
        }
    };
    req.extensions_mut().insert(key);
    next.call(req).await
}

/// Live API keys recently found, by token hash, so that a busy sender does not cost a database
/// round trip per request. An entry is trusted for `server.api_key_cache_seconds`: a key
/// revoked (by `trackway keys revoke`, possibly in another process) stops working within that
/// time (by the server's [`Clock`], which tests move). Unknown tokens are never cached.
pub struct KeyCache {
    ttl: chrono::Duration,
    clock: Clock,
    keys: Mutex<HashMap<TokenHash, (ApiKey, DateTime<Utc>)>>,
}

/// SHA-256 of a token, as keys are stored and looked up.
type TokenHash = [u8; 32];

impl KeyCache {
    pub fn new(ttl: Duration, clock: Clock) -> KeyCache {
        KeyCache {
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            clock,
            keys: Mutex::default(),
        }
    }

    fn get(&self, hash: &TokenHash) -> Option<ApiKey> {
        let now = self.clock.now();
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(hash)
            .filter(|(_, found)| now - *found < self.ttl)
            .map(|(key, _)| key.clone())
    }

    fn put(&self, hash: TokenHash, key: &ApiKey) {
        if self.ttl.is_zero() {
            return;
        }
        let now = self.clock.now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|_, (_, found)| now - *found < self.ttl);
        keys.insert(hash, (key.clone(), now));
    }
}

fn bearer_token(req: &HttpRequest) -> Result<SecretString, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            ErrorCode::MissingToken,
            "Send an API key as Authorization: Bearer <token>.",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized(ErrorCode::InvalidToken, "The Authorization header is not valid text."))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "The Authorization header must be Bearer <token>.",
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// A kind of access; its roles are the ones sufficient for it.
pub trait Permission {
    const ROLES: &'static [Role];
}

/// Read and write DeliveryConfigs.
pub struct ManageDeliveryConfigs;
impl Permission for ManageDeliveryConfigs {
    const ROLES: &'static [Role] = &[Role::FullAccess, Role::DeliveryConfigAdmin];
}

/// Read TrackingEvents.
pub struct ReadTrackingEvents;
impl Permission for ReadTrackingEvents {
    const ROLES: &'static [Role] = &[Role::FullAccess, Role::TrackingEventAdmin, Role::TrackingEventReader];
}

/// Write TrackingEvents.
pub struct ManageTrackingEvents;
impl Permission for ManageTrackingEvents {
    const ROLES: &'static [Role] = &[Role::FullAccess, Role::TrackingEventAdmin];
}

/// Read and write the ErrorConfig.
pub struct ManageErrorConfig;
impl Permission for ManageErrorConfig {
    const ROLES: &'static [Role] = &[Role::FullAccess, Role::ErrorConfigAdmin];
}

/// Post triggers and keep the entity store in sync (TriggerSender keys only for their ClientIDs).
pub struct SendTriggers;
impl Permission for SendTriggers {
    const ROLES: &'static [Role] = &[Role::FullAccess, Role::TriggerSender];
}

/// Read events and deliveries.
pub struct ReadDeliveries;
impl Permission for ReadDeliveries {
    const ROLES: &'static [Role] = &[
        Role::FullAccess,
        Role::DeliveryConfigAdmin,
        Role::TrackingEventAdmin,
        Role::TrackingEventReader,
    ];
}

/// The caller's key, proven to hold one of `P::ROLES`.
pub struct Authorized<P: Permission> {
    pub key: ApiKey,
    permission: PhantomData<P>,
}

impl Authorized<SendTriggers> {
    /// A TriggerSender key may only speak for its own ClientIDs; FullAccess for any.
    pub fn check_client(&self, client_id: &crate::domain::ResourceId) -> Result<(), ApiError> {
        if self.key.roles.contains(&Role::FullAccess) || self.key.client_ids.contains(client_id) {
            return Ok(());
        }
        Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            ErrorCode::ClientNotInScope,
            format!("This API key may not send triggers for ClientID {client_id}."),
            Some(serde_json::json!({ "ClientID": client_id, "AllowedClientIDs": self.key.client_ids })),
        ))
    }
}

impl<P: Permission> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.extensions().get::<ApiKey>() {
            // Routes outside `authenticate` must not ask for a permission: fail loudly.
            None => Err(ApiError::internal(anyhow::anyhow!(
                "Authorized used on an unauthenticated route"
            ))),
            Some(key) if key.has_any_role(P::ROLES) => Ok(Authorized {
                key: key.clone(),
                permission: PhantomData,
            }),
            Some(key) => Err(ApiError::insufficient_roles(P::ROLES, &key.roles)),
        };
        ready(result)
    }
}
