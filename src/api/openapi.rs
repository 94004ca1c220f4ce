//! The OpenAPI document, generated from the handlers' annotations. `trackway openapi` prints it,
//! `/openapi.yaml` serves it, and a test keeps the committed `openapi.yaml` equal to it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        delivery_configs::recover, delivery_configs::test,
        error_config::get, error_config::put, error_config::patch, error_config::delete,
        triggers::post, triggers::batch,
        entities::put_product, entities::get_product, entities::delete_product,
        entities::put_user, entities::get_user, entities::delete_user,
        entities::put_order, entities::get_order, entities::delete_order,
        entities::put_line_item, entities::get_line_item, entities::delete_line_item,
        records::list_events, records::get_event, records::list_deliveries, records::get_delivery, records::retry,
        health::live, health::ready,
    ),
    modifiers(&BearerAuth),
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

pub async fn serve_yaml() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(yaml())
}
