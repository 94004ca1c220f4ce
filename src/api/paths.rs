//! Case-insensitive routing, as OrderCloud's: `/v1/Integrations/TrackingEvents` reaches the
//! same handler as `/v1/integrations/trackingEvents`. Only the literal segments of a route are
//! folded to their canonical spelling; IDs in the path keep their case. The route templates
//! come from the OpenAPI document, so every documented route is covered and nothing else is.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::Error;

/// The route templates, split into segments; `None` marks a `{parameter}`.
#[derive(Debug, Clone)]
pub struct Routes(Vec<Vec<Option<String>>>);

impl Routes {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Self {
        Routes(
            templates
                .into_iter()
                .map(|t| {
                    t.trim_matches('/')
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                        .collect()
                })
                .collect(),
        )
    }

    /// The canonical spelling of `path` when it differs from it only in the case of literal
    /// segments (or a trailing slash); `None` when it is already canonical or matches nothing.
    pub fn canonical(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
        let template = self.0.iter().find(|t| {
            t.len() == segments.len()
                && t.iter().zip(&segments).all(|(literal, segment)| match literal {
                    Some(literal) => literal.eq_ignore_ascii_case(segment),
                    None => !segment.is_empty(),
                })
        })?;
        let canonical: String = template
            .iter()
            .zip(&segments)
            .map(|(literal, segment)| format!("/{}", literal.as_deref().unwrap_or(segment)))
            .collect();
        (canonical != path).then_some(canonical)
    }
}

/// Middleware: rewrites the request path to its canonical spelling before routing.
pub async fn canonicalize(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let rewritten = req
        .app_data::<actix_web::web::Data<Routes>>()
        .and_then(|routes| routes.canonical(req.path()));
    if let Some(path) = rewritten {
        let path_and_query = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = req.head().uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                req.match_info_mut().get_mut().update(&uri);
                req.head_mut().uri = uri;
            }
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::new([
            "/v1/integrations/deliveryconfig",
            "/v1/integrations/deliveryconfig/{id}",
            "/v1/integrations/trackingEvents/{id}",
            "/v1/integrations/ErrorConfig",
        ])
    }

    #[test]
    fn literal_segments_fold_to_canonical_case() {
        let r = routes();
        assert_eq!(
            r.canonical("/V1/Integrations/DeliveryConfig").as_deref(),
            Some("/v1/integrations/deliveryconfig")
        );
        assert_eq!(
            r.canonical("/v1/integrations/TRACKINGEVENTS/MyID").as_deref(),
            Some("/v1/integrations/trackingEvents/MyID")
        );
        assert_eq!(
            r.canonical("/v1/integrations/errorconfig").as_deref(),
            Some("/v1/integrations/ErrorConfig")
        );
        assert_eq!(
            r.canonical("/v1/integrations/deliveryconfig/").as_deref(),
            Some("/v1/integrations/deliveryconfig")
        );
    }

    #[test]
    fn canonical_and_unknown_paths_are_left_alone() {
        let r = routes();
        assert_eq!(r.canonical("/v1/integrations/deliveryconfig/Abc"), None);
        assert_eq!(r.canonical("/v1/nothing/here"), None);
        assert_eq!(r.canonical("/v1/integrations/deliveryconfig/a/b"), None);
    }
}
