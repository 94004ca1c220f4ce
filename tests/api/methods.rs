//! A method a documented path does not take is a 405 whose `Allow` lists the methods the path
//! does take, as `openapi.yaml` documents them.

use reqwest::{Method, StatusCode};
use trackway::domain::Role;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_405_names_the_methods_its_path_takes_as_the_spec_documents_them() {
    let app = TestApp::spawn().await;
    let mut checked = 0;
    for (template, allowed) in trackway::api::openapi::allowed_methods() {
        if !template.starts_with("/v1/") {
            continue;
        }
        let path = template
            .split('/')
            .map(|segment| if segment.starts_with('{') { "x1" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let refused = ["PATCH", "DELETE", "PUT", "POST", "GET"]
            .into_iter()
            .find(|m| !allowed.split(", ").any(|a| a == *m))
            .expect("no path takes every method");
        let method = Method::from_bytes(refused.as_bytes()).unwrap();
        let reply = app.call(method, &path, Some(Role::FullAccess), None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{refused} {path}");
        assert_eq!(reply.headers["allow"], allowed.as_str(), "{refused} {path}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked} paths checked");
    let line_item = app
        .call(
            Method::POST,
            "/v1/orders/PO1/lineitems/L1",
            Some(Role::FullAccess),
            None,
        )
        .await;
    assert_eq!(line_item.headers["allow"], "GET, PUT, DELETE");
}
