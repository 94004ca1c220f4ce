use chrono::Duration;

use super::*;
use crate::domain::targets::HttpTargetDoc;

const OLD: &str = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0";
const NEW: &str = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0";

fn now() -> DateTime<Utc> {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn day() -> GracePeriod {
    GracePeriod::from_hours(24).unwrap()
}

fn stored(secret: Option<&str>) -> DeliveryTargetsDoc {
    DeliveryTargetsDoc {
        http: Some(HttpTargetDoc {
            endpoint: Some("https://hooks.example.com/h".into()),
            secret: secret.map(Into::into),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn parsed(doc: &DeliveryTargetsDoc) -> DeliveryTargets {
    DeliveryTargets::parse_stored("DeliveryTargets", doc).unwrap()
}

/// `before` with its Secret changed to `secret` at `now()`, as a PUT saves it.
fn saved_with(before: &DeliveryTargetsDoc, secret: Option<&str>, grace: GracePeriod) -> DeliveryTargets {
    let mut targets = DeliveryTargets::parse("DeliveryTargets", &stored(secret)).unwrap();
    targets.succeed(Some(before), now(), grace);
    targets
}

fn signing(targets: &DeliveryTargets, at: DateTime<Utc>) -> Vec<String> {
    let http = targets.http.as_ref().unwrap();
    http.signing_secrets(at).map(|s| s.expose_secret().to_owned()).collect()
}

fn rotation(secret: Option<&str>, grace_hours: Option<i64>) -> Result<SecretRotation, Vec<String>> {
    SecretRotation::parse(secret, grace_hours, day()).map_err(|invalids| {
        invalids
            .0
            .into_iter()
            .map(|i| format!("{:?} {}", i.code, i.field))
            .collect()
    })
}

#[test]
fn a_grace_period_is_0_to_168_whole_hours() {
    for hours in [-1, 169, i64::MAX] {
        assert_eq!(GracePeriod::from_hours(hours), None, "{hours}");
    }
    assert_eq!(GracePeriod::from_hours(0).unwrap().end(now()), None);
    assert_eq!(GracePeriod::from_hours(168).unwrap().hours(), 168);
    assert_eq!(day().end(now()), Some(now() + Duration::hours(24)));
}

#[test]
fn a_changed_secret_keeps_the_one_it_replaces_signing_until_the_grace_period_ends() {
    let targets = saved_with(&stored(Some(OLD)), Some(NEW), day());
    let end = now() + Duration::hours(24);
    assert_eq!(signing(&targets, now()), [NEW, OLD]);
    assert_eq!(signing(&targets, end - Duration::seconds(1)), [NEW, OLD]);
    assert_eq!(signing(&targets, end), [NEW]);

    // Stored and read back, the rotation goes on; readers see only when it ends.
    let doc = targets.to_doc();
    assert_eq!(signing(&parsed(&doc), now()), [NEW, OLD]);
    let shown = doc.masked(now()).http.unwrap();
    assert_eq!(
        shown.secret_rotation,
        Some(SecretRotationDoc {
            previous_expires_at: end,
            previous_secret: None
        })
    );
    assert!(!serde_json::to_string(&doc.masked(now())).unwrap().contains("whsec_"));
    assert_eq!(doc.masked(end).http.unwrap().secret_rotation, None);
}

#[test]
fn saving_the_same_secret_keeps_the_rotation_in_progress_and_starts_none() {
    let rotating = saved_with(&stored(Some(OLD)), Some(NEW), day()).to_doc();
    let later = |hours| now() + Duration::hours(hours);
    let mut again = DeliveryTargets::parse("DeliveryTargets", &stored(Some(NEW))).unwrap();
    again.succeed(Some(&rotating), later(1), day());
    assert_eq!(signing(&again, later(1)), [NEW, OLD]);
    assert_eq!(again.http.unwrap().previous_secret.unwrap().expires_at, later(24));

    // Once over, the rotation is dropped from the stored document at the next save.
    let mut after = DeliveryTargets::parse("DeliveryTargets", &stored(Some(NEW))).unwrap();
    after.succeed(Some(&rotating), later(24), day());
    assert!(after.to_doc().http.unwrap().secret_rotation.is_none());

    let unchanged = saved_with(&stored(Some(OLD)), Some(OLD), day());
    assert_eq!(signing(&unchanged, now()), [OLD]);
}

#[test]
fn no_rotation_without_a_secret_before_and_after_or_without_a_grace_period() {
    assert_eq!(signing(&saved_with(&stored(None), Some(NEW), day()), now()), [NEW]);
    let removed = saved_with(&stored(Some(OLD)), None, day());
    assert_eq!(signing(&removed, now()), Vec::<String>::new());
    let at_once = saved_with(&stored(Some(OLD)), Some(NEW), GracePeriod::from_hours(0).unwrap());
    assert_eq!(signing(&at_once, now()), [NEW]);
    let mut created = DeliveryTargets::parse("DeliveryTargets", &stored(Some(NEW))).unwrap();
    created.succeed(None, now(), day());
    assert_eq!(signing(&created, now()), [NEW]);
}

#[test]
fn a_request_cannot_set_the_previous_secret() {
    let mut doc = stored(Some(NEW));
    doc.http.as_mut().unwrap().secret_rotation = Some(SecretRotationDoc {
        previous_expires_at: now() + Duration::days(365),
        previous_secret: Some("chosen-by-the-client".into()),
    });
    let mut targets = DeliveryTargets::parse("DeliveryTargets", &doc).unwrap();
    assert_eq!(signing(&targets, now()), [NEW]);
    targets.succeed(Some(&stored(Some(NEW))), now(), day());
    assert_eq!(signing(&targets, now()), [NEW]);
}

#[test]
fn rotating_replaces_the_secret_and_a_second_rotation_retires_the_oldest() {
    let mut targets = parsed(&stored(Some(OLD)));
    let end = targets.rotate_secret(&rotation_to(NEW, 24), now()).unwrap();
    assert_eq!(end, Some(now() + Duration::hours(24)));
    assert_eq!(signing(&targets, now()), [NEW, OLD]);

    let third = rotation_to("whsec_dGhpcmQ=", 2);
    let later = now() + Duration::hours(1);
    assert_eq!(
        targets.rotate_secret(&third, later).unwrap(),
        Some(later + Duration::hours(2))
    );
    assert_eq!(signing(&targets, later), ["whsec_dGhpcmQ=", NEW]);
}

fn rotation_to(secret: &str, grace_hours: i64) -> SecretRotation {
    rotation(Some(secret), Some(grace_hours)).unwrap()
}

#[test]
fn rotating_is_refused_without_an_http_target_or_to_the_same_secret() {
    let segment: DeliveryTargetsDoc =
        serde_json::from_value(serde_json::json!({"Segment": {"WriteKey": "w"}})).unwrap();
    assert_eq!(
        parsed(&segment).rotate_secret(&rotation_to(NEW, 24), now()),
        Err(RotationRefused::NoHttpTarget)
    );
    let mut targets = parsed(&stored(Some(OLD)));
    assert_eq!(
        targets.rotate_secret(&rotation_to(OLD, 24), now()),
        Err(RotationRefused::SameSecret)
    );
    assert_eq!(signing(&targets, now()), [OLD]);
}

#[test]
fn rotating_a_target_without_a_secret_sets_one_and_nothing_else_signs() {
    let mut targets = parsed(&stored(None));
    assert_eq!(targets.rotate_secret(&rotation_to(NEW, 24), now()), Ok(None));
    assert_eq!(signing(&targets, now()), [NEW]);
}

#[test]
fn an_omitted_secret_is_generated_the_standard_webhooks_way() {
    let generated = rotation(None, None).unwrap();
    assert!(generated.generated);
    assert_eq!(generated.grace, day());
    let secret = generated.secret.expose_secret();
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(key.len(), 32);
    assert_ne!(generate_secret().expose_secret(), secret);
    let given = rotation_to(NEW, 0);
    assert!(!given.generated);
    assert_eq!(given.secret.expose_secret(), NEW);
}

#[test]
fn an_invalid_secret_or_grace_period_names_its_field() {
    let too_long = "x".repeat(513);
    for (secret, grace, expected) in [
        (Some(""), None, vec!["InvalidValue Secret"]),
        (Some(MASK), None, vec!["InvalidValue Secret"]),
        (Some(too_long.as_str()), None, vec!["InvalidValue Secret"]),
        (None, Some(169), vec!["InvalidValue GracePeriodHours"]),
        (None, Some(-1), vec!["InvalidValue GracePeriodHours"]),
        (
            Some(MASK),
            Some(1000),
            vec!["InvalidValue Secret", "InvalidValue GracePeriodHours"],
        ),
    ] {
        assert_eq!(rotation(secret, grace).unwrap_err(), expected, "{secret:?} {grace:?}");
    }
}
