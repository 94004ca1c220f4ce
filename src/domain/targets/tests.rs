use super::*;

fn http(endpoint: &str) -> DeliveryTargetsDoc {
    DeliveryTargetsDoc {
        http: Some(HttpTargetDoc {
            endpoint: Some(endpoint.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn codes(result: Result<DeliveryTargets, Invalids>) -> Vec<(InvalidCode, String)> {
    result.unwrap_err().0.into_iter().map(|i| (i.code, i.field)).collect()
}

#[test]
fn accepts_http_and_https_endpoints() {
    for url in ["https://example.com/hook", "http://127.0.0.1:9000/x?y=1"] {
        let targets = DeliveryTargets::parse("DeliveryTargets", &http(url)).unwrap();
        assert_eq!(targets.http.unwrap().endpoint.as_str(), url);
    }
}

#[test]
fn rejects_endpoints_that_are_not_absolute_http_urls() {
    for url in [
        "example.com/hook",
        "/relative",
        "ftp://example.com",
        "https://user:pw@x.com",
        "http://",
        "mailto:a@b.c",
    ] {
        assert_eq!(
            codes(DeliveryTargets::parse("DeliveryTargets", &http(url))),
            vec![(InvalidCode::InvalidUrl, "DeliveryTargets.Http.Endpoint".to_owned())],
            "{url}"
        );
    }
}

#[test]
fn an_empty_targets_document_is_rejected() {
    assert_eq!(
        codes(DeliveryTargets::parse(
            "DeliveryTargets",
            &DeliveryTargetsDoc::default()
        )),
        vec![(InvalidCode::Required, "DeliveryTargets".to_owned())]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = DeliveryTargetsDoc {
        http: Some(HttpTargetDoc::default()),
        send_event: Some(SendEventTargetDoc {
            site_id: Some("not-a-uuid".into()),
            service_endpoint: None,
        }),
        discover_event: Some(DiscoverEventTargetDoc::default()),
        segment: Some(SegmentTargetDoc::default()),
    };
    let fields: Vec<String> = codes(DeliveryTargets::parse("T", &doc))
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    assert_eq!(
        fields,
        [
            "T.Http.Endpoint",
            "T.SendEvent.SiteID",
            "T.DiscoverEvent.ClientID",
            "T.DiscoverEvent.ApiKey",
            "T.Segment.WriteKey"
        ]
    );
}

#[test]
fn custom_auth_header_needs_both_halves_and_a_free_name() {
    let mut doc = http("https://x.test");
    let target = doc.http.as_mut().unwrap();
    target.custom_auth_header_name = Some("X-Api-Key".into());
    assert_eq!(
        codes(DeliveryTargets::parse("T", &doc)),
        vec![(InvalidCode::Required, "T.Http.CustomAuthHeaderValue".to_owned())]
    );
    let target = doc.http.as_mut().unwrap();
    target.custom_auth_header_value = Some("k".into());
    assert!(DeliveryTargets::parse("T", &doc).is_ok());
    let target = doc.http.as_mut().unwrap();
    target.custom_auth_header_name = Some("webhook-signature".into());
    assert_eq!(codes(DeliveryTargets::parse("T", &doc))[0].0, InvalidCode::InvalidValue);
    let target = doc.http.as_mut().unwrap();
    target.custom_auth_header_name = Some("Bad Header".into());
    assert_eq!(codes(DeliveryTargets::parse("T", &doc))[0].0, InvalidCode::InvalidValue);
}

#[test]
fn defaults_fill_vendor_endpoints() {
    let doc = DeliveryTargetsDoc {
        send_event: Some(SendEventTargetDoc {
            site_id: Some("6c0f7f8e-2a55-4b51-9a57-4a4e5c1f0d11".into()),
            service_endpoint: None,
        }),
        discover_event: Some(DiscoverEventTargetDoc {
            client_id: Some("17595242-159871555".into()),
            api_key: Some("01-key".into()),
            service_endpoint: None,
        }),
        segment: Some(SegmentTargetDoc {
            write_key: Some("wk".into()),
            endpoint: None,
        }),
        ..Default::default()
    };
    let targets = DeliveryTargets::parse("T", &doc).unwrap();
    let mut not_a_key = doc.clone();
    not_a_key.discover_event.as_mut().unwrap().client_id = Some("golden customer".into());
    assert_eq!(
        codes(DeliveryTargets::parse("T", &not_a_key)),
        [(InvalidCode::InvalidValue, "T.DiscoverEvent.ClientID".to_owned())]
    );
    let stored = targets.to_doc().discover_event.unwrap();
    assert_eq!(stored.service_endpoint, None, "the default follows a changed ClientID");
    assert_eq!(
        targets.discover_event.unwrap().service_endpoint.as_str(),
        "https://discover.sitecorecloud.io/event/17595242-159871555/v4/publish"
    );
    assert_eq!(
        targets.send_event.unwrap().service_endpoint.as_str(),
        "https://t.stat-track.com/"
    );
    assert_eq!(targets.segment.unwrap().endpoint.as_str(), "https://api.segment.io/");
}

#[test]
fn secrets_are_masked_for_readers_and_restored_from_the_mask() {
    let mut stored = http("https://x.test");
    stored.http.as_mut().unwrap().secret = Some("s3cret".into());
    let masked = stored.masked(chrono::Utc::now());
    assert_eq!(masked.http.as_ref().unwrap().secret.as_deref(), Some(MASK));
    assert!(!serde_json::to_string(&masked).unwrap().contains("s3cret"));

    let mut round_trip = masked.clone();
    round_trip.restore_masked(&stored);
    assert_eq!(round_trip, stored);
}

#[test]
fn a_mask_with_nothing_to_restore_is_rejected() {
    let mut doc = http("https://x.test");
    doc.http.as_mut().unwrap().secret = Some(MASK.into());
    assert_eq!(
        codes(DeliveryTargets::parse("T", &doc)),
        vec![(InvalidCode::InvalidValue, "T.Http.Secret".to_owned())]
    );
}
