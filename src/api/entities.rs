//! The entity store: `/v1/products/{id}`, `/v1/users/{id}`, `/v1/orders/{id}` and
//! `/v1/orders/{orderID}/lineitems/{id}`. The commerce platform keeps them in sync so that
//! triggers which only name an entity are still hydrated with it.

use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};

use super::auth::{Authorized, SendTriggers};
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::{method_not_allowed, path_id, AppState};
use crate::domain::trigger::Entity;
use crate::domain::ResourceId;
use crate::storage::entities::{self as store, Keyed};

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, put, get, delete) in [
        (
            "/products/{id}",
            web::put().to(put_product),
            web::get().to(get_product),
            web::delete().to(delete_product),
        ),
        (
            "/users/{id}",
            web::put().to(put_user),
            web::get().to(get_user),
            web::delete().to(delete_user),
        ),
        (
            "/orders/{id}",
            web::put().to(put_order),
            web::get().to(get_order),
            web::delete().to(delete_order),
        ),
        (
            "/orders/{order_id}/lineitems/{id}",
            web::put().to(put_line_item),
            web::get().to(get_line_item),
            web::delete().to(delete_line_item),
        ),
    ] {
        cfg.service(
            web::resource(path)
                .route(put)
                .route(get)
                .route(delete)
                .default_service(web::to(method_not_allowed)),
        );
    }
}

/// The document with its ID checked against (or taken from) the URL.
fn entity(id: &ResourceId, doc: Map<String, Value>) -> Result<Entity, ApiError> {
    Entity::at_path(id, doc).map_err(|e| ApiError::invalid(e.into()))
}

fn found(kind: &str, id: &ResourceId, doc: Option<Map<String, Value>>) -> Result<HttpResponse, ApiError> {
    doc.map(|d| HttpResponse::Ok().json(d))
        .ok_or_else(|| ApiError::not_found(kind, id.as_str()))
}

fn deleted(kind: &str, id: &ResourceId, was_there: bool) -> Result<HttpResponse, ApiError> {
    if was_there {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(kind, id.as_str()))
    }
}

async fn save_keyed(s: &AppState, store: Keyed, id: &str, doc: Map<String, Value>) -> Result<HttpResponse, ApiError> {
    let entity = entity(&path_id(id)?, doc)?;
    store::put_keyed(&s.pool, store, &entity).await?;
    Ok(HttpResponse::Ok().json(entity.doc))
}

async fn read_keyed(s: &AppState, store: Keyed, kind: &str, id: &str) -> Result<HttpResponse, ApiError> {
    let id = path_id(id)?;
    found(kind, &id, store::get_keyed(&s.pool, store, &id).await?)
}

async fn remove_keyed(s: &AppState, store: Keyed, kind: &str, id: &str) -> Result<HttpResponse, ApiError> {
    let id = path_id(id)?;
    deleted(kind, &id, store::delete_keyed(&s.pool, store, &id).await?)
}

/// Create or replace a Product (an OrderCloud Product document).
#[utoipa::path(put, path = "/v1/products/{id}", tag = "Entities", operation_id = "Products.Save",
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_product(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    save_keyed(&s, Keyed::Products, &id, body.0).await
}

#[utoipa::path(get, path = "/v1/products/{id}", tag = "Entities", operation_id = "Products.Get",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_product(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read_keyed(&s, Keyed::Products, "Product", &id).await
}

#[utoipa::path(delete, path = "/v1/products/{id}", tag = "Entities", operation_id = "Products.Delete",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_product(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove_keyed(&s, Keyed::Products, "Product", &id).await
}

/// Create or replace a User (an OrderCloud User document).
#[utoipa::path(put, path = "/v1/users/{id}", tag = "Entities", operation_id = "Users.Save",
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_user(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    save_keyed(&s, Keyed::Users, &id, body.0).await
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "Entities", operation_id = "Users.Get",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_user(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read_keyed(&s, Keyed::Users, "User", &id).await
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "Entities", operation_id = "Users.Delete",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_user(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove_keyed(&s, Keyed::Users, "User", &id).await
}

/// Create or replace an Order (an OrderCloud Order document; `FromUserID` links its user).
#[utoipa::path(put, path = "/v1/orders/{id}", tag = "Entities", operation_id = "Orders.Save",
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_order(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let entity = entity(&path_id(&id)?, body.0)?;
    store::put_order(&s.pool, &entity).await?;
    Ok(HttpResponse::Ok().json(entity.doc))
}

#[utoipa::path(get, path = "/v1/orders/{id}", tag = "Entities", operation_id = "Orders.Get",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_order(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    found("Order", &id, store::get_order(&s.pool, &id).await?)
}

/// Delete an Order and its LineItems.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "Entities", operation_id = "Orders.Delete",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_order(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    deleted("Order", &id, store::delete_order(&s.pool, &id).await?)
}

/// Create or replace a LineItem of an order (`ProductID` links its product).
#[utoipa::path(put, path = "/v1/orders/{order_id}/lineitems/{id}", tag = "Entities", operation_id = "LineItems.Save",
    params(("order_id" = String, Path), ("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_line_item(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    ids: web::Path<(String, String)>,
    body: JsonBody<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let order_id = path_id(&ids.0)?;
    let entity = entity(&path_id(&ids.1)?, body.0)?;
    store::put_line_item(&s.pool, &order_id, &entity).await?;
    Ok(HttpResponse::Ok().json(entity.doc))
}

#[utoipa::path(get, path = "/v1/orders/{order_id}/lineitems/{id}", tag = "Entities", operation_id = "LineItems.Get",
    params(("order_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_line_item(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    ids: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (order_id, id) = (path_id(&ids.0)?, path_id(&ids.1)?);
    found("LineItem", &id, store::get_line_item(&s.pool, &order_id, &id).await?)
}

#[utoipa::path(delete, path = "/v1/orders/{order_id}/lineitems/{id}", tag = "Entities", operation_id = "LineItems.Delete",
    params(("order_id" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_line_item(
    _a: Authorized<SendTriggers>,
    s: web::Data<AppState>,
    ids: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (order_id, id) = (path_id(&ids.0)?, path_id(&ids.1)?);
    deleted("LineItem", &id, store::delete_line_item(&s.pool, &order_id, &id).await?)
}
