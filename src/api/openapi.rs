//! The OpenAPI document, generated from the handlers' annotations. `trackway openapi` prints it,
//! `/openapi.yaml` serves it, and a test keeps the committed `openapi.yaml` equal to it. The
//! annotations document what each handler decides; [`SharedResponses`] adds what the layers every
//! request passes through can answer (authentication, path IDs, the body extractor, the database),
//! and [`PathIds`] states the rule every ID in a path follows.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};

use crate::domain::id::{ID_PATTERN, MAX_ID_LEN};

use super::{delivery_configs, entities, error_config, health, records, tracking_events, triggers};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trackway",
        description = "Tracking-event delivery gateway with an OrderCloud-shaped configuration API. \
                       Paths match case-insensitively; errors are `{\"Errors\":[{ErrorCode, Message, Data}]}`."
    ),
    paths(
        delivery_configs::list, delivery_configs::create, delivery_configs::get,
        delivery_configs::put, delivery_configs::patch, delivery_configs::delete,
        tracking_events::list, tracking_events::create, tracking_events::get,
        tracking_events::put, tracking_events::patch, tracking_events::delete,
        delivery_configs::recover, delivery_configs::test, delivery_configs::rotation::rotate_secret,
        error_config::get, error_config::put, error_config::patch, error_config::delete,
        triggers::post, triggers::batch,
        entities::put_product, entities::get_product, entities::delete_product,
        entities::put_user, entities::get_user, entities::delete_user,
        entities::put_order, entities::get_order, entities::delete_order,
        entities::put_line_item, entities::get_line_item, entities::delete_line_item,
        records::list_events, records::get_event, records::list_deliveries, records::get_delivery, records::retry,
        health::live, health::ready,
    ),
    modifiers(&BearerAuth, &PathIds, &SharedResponses),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `trackway keys create`."))
                    .build(),
            ),
        );
    }
}

/// Adds to every operation the error statuses that the layers around its handler can answer:
/// 414/431 for an over-long request head, 401/403 where it takes an API key, 400 `InvalidID`
/// where its path holds IDs, 400/408/413/415 where it reads a body, 503 on `/v1` (the database). A status an annotation already documents
/// keeps its own response; only an empty description there is filled in.
struct SharedResponses;

const UNAUTHORIZED: &str = "No valid API key: `MissingToken` (no `Authorization: Bearer` header) \
                            or `InvalidToken` (unknown, revoked or malformed).";
const FORBIDDEN: &str = "`InsufficientRoles`: the API key lacks a role this operation needs; \
                         Data lists the sufficient and the assigned roles.";
const INVALID_ID: &str = "`InvalidID`: an ID in the path is longer than 100 characters or holds a \
                          character other than letters, digits, '_', '.' and '-'.";
const INVALID_BODY: &str = "The body is refused: `InvalidJson` (not JSON), `InvalidFieldType` (not \
                            an object, or a field of the wrong type), `UnknownField`, \
                            `NestedTooDeep` (objects and arrays nested deeper than 32 levels), or \
                            a value that breaks a rule (`RequiredField`, `InvalidValue`…); \
                            Data.Field names the field.";
const BODY_TIMEOUT: &str = "`RequestTimeout`: the body was not received in full within \
                            `server.body_timeout_seconds`; the connection is closed.";
const TOO_LARGE: &str = "`PayloadTooLarge`: the body, decompressed, is larger than \
                         `server.max_body_bytes` (Data.Limit).";
const UNSUPPORTED: &str = "`UnsupportedMediaType`: the body is not sent as \
                           `Content-Type: application/json`; or `UnsupportedContentEncoding`: \
                           its `Content-Encoding` is not identity, gzip or deflate.";
const URI_TOO_LONG: &str = "`UriTooLong`: the path and query are longer than 8 KiB.";
const HEADERS_TOO_LARGE: &str = "`HeadersTooLarge`: the request carries more than 64 header fields \
                                 or 32 KiB of them.";
const UNAVAILABLE: &str = "`ServiceUnavailable`: the database is unreachable or the connection to \
                           it was lost; retry after the Retry-After seconds.";
const OVERLOADED: &str = "`Overloaded`: too many triggers are being accepted right now; nothing was \
                          stored; retry after the Retry-After seconds.";

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                for (status, reasons) in shared_statuses(path, operation) {
                    let description = reasons.join(" ");
                    let response = operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(status, &description).into());
                    if let RefOr::T(response) = response {
                        if response.description.is_empty() {
                            response.description = description;
                        }
                    }
                }
            }
        }
    }
}

/// The statuses the shared layers can answer `operation` (at `path`) with, and why.
fn shared_statuses(path: &str, operation: &Operation) -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut statuses: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    let mut add = |status, reason| statuses.entry(status).or_default().push(reason);
    add("414", URI_TOO_LONG);
    add("431", HEADERS_TOO_LARGE);
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add("401", UNAUTHORIZED);
        add("403", FORBIDDEN);
    }
    if operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path)
    {
        add("400", INVALID_ID);
    }
    if operation.request_body.is_some() {
        add("400", INVALID_BODY);
        add("408", BODY_TIMEOUT);
        add("413", TOO_LARGE);
        add("415", UNSUPPORTED);
    }
    if path.starts_with("/v1/") {
        add("503", UNAVAILABLE);
        // Trigger requests past `server.max_concurrent_triggers` are refused.
        if path.starts_with("/v1/triggers") {
            add("503", OVERLOADED);
        }
    }
    statuses
}

/// Every `{parameter}` of a path is a resource ID, refused with 400 `InvalidID` when it breaks
/// the rule ([`super::path_id`]); the schema says so, so clients (and generated tests) know.
struct PathIds;

impl Modify for PathIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let parameters = operation.parameters.iter_mut().flatten();
                for parameter in parameters.filter(|p| p.parameter_in == ParameterIn::Path) {
                    let id = ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(MAX_ID_LEN))
                        .pattern(Some(ID_PATTERN));
                    parameter.schema = Some(id.into());
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn error_response(status: &str, description: &str) -> Response {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body);
    if status == "503" {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer);
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
    }
    response.build()
}

/// The document as YAML.
pub fn yaml() -> String {
    ApiDoc::openapi()
        .to_yaml()
        .expect("the OpenAPI document always serialises")
}

/// Every documented path template, for case-insensitive routing.
pub fn path_templates() -> Vec<String> {
    let mut paths: Vec<String> = ApiDoc::openapi().paths.paths.into_keys().collect();
    paths.push("/openapi.yaml".to_owned());
    paths
}

/// The methods each documented path template takes, as an `Allow` header lists them: one
/// source for the spec and for the 405s' `Allow`.
pub fn allowed_methods() -> &'static BTreeMap<String, String> {
    static ALLOWED: LazyLock<BTreeMap<String, String>> = LazyLock::new(|| {
        let methods = |item: &PathItem| {
            let taken = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ];
            let names: Vec<&str> = taken
                .iter()
                .filter(|(_, op)| op.is_some())
                .map(|(name, _)| *name)
                .collect();
            names.join(", ")
        };
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| (path.clone(), methods(item)))
            .collect()
    });
    &ALLOWED
}

pub async fn serve_yaml() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(yaml())
}
