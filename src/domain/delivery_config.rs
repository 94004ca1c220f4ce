//! DeliveryConfig: a named set of destinations plus the policy its deliveries follow.
//! [`DeliveryConfigDoc`] is the document a client sends and reads back (secrets masked on the
//! way out); [`DeliveryConfig`] is what it parses into.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id::ResourceId;
use super::targets::{DeliveryTargets, DeliveryTargetsDoc};
use super::validation::{required_text, Invalid, InvalidCode, Invalids};

const MAX_NAME_LEN: usize = 100;

/// The Standard Webhooks schedule: seconds to wait before each retry after the first attempt
/// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
pub const DEFAULT_RETRY_SCHEDULE: [u32; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 15;
pub const MAX_TIMEOUT_SECONDS: u32 = 30;
/// Requests in flight to one target from one instance, unless its DeliveryPolicy says
/// otherwise: room for about 6,000 deliveries/s at 20 ms each. A healthy target that reaches
/// its cap has its deliveries queued and claimed, which costs more than handing them over, so
/// a cap near a busy target's needs (64 was) made saturation feed on itself.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 128;
const MAX_RETRIES: usize = 30;
const MAX_RETRY_DELAY_SECONDS: u32 = 7 * 24 * 3600;

/// A DeliveryConfig as clients write and read it. Every field is optional here so that one type
/// serves POST, PUT and the merged result of a PATCH; [`DeliveryConfig::parse`] says what is
/// required. Reads return this same shape, so a GET body can be PUT back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeliveryConfigDoc {
    /// Client-chosen ID (≤100 of `[A-Za-z0-9_.-]`); generated when omitted.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// Required.
    pub name: Option<String>,
    /// Defaults to true. A disabled config's TrackingEvents create no deliveries.
    pub enabled: Option<bool>,
    /// Required; at least one target.
    pub delivery_targets: Option<DeliveryTargetsDoc>,
    /// How deliveries to these targets are retried and throttled; defaults apply to what is omitted.
    pub delivery_policy: Option<DeliveryPolicyDoc>,
    /// Read-only (ignored on writes): targets the engine switched off after a 410 Gone, and
    /// why. `POST .../recover` re-enables them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub disabled_targets: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeliveryPolicyDoc {
    /// Seconds to wait before each retry; its length is the number of retries after the first
    /// attempt. Default: the Standard Webhooks schedule `[5, 300, 1800, 7200, 18000, 36000,
    /// 50400, 72000, 86400]`.
    pub retry_schedule: Option<Vec<u32>>,
    /// Total time allowed for one request, 1 to 30 seconds (default 15).
    pub timeout_seconds: Option<u32>,
    /// Requests in flight at once to one target, from each instance (default 128).
    pub max_in_flight: Option<u32>,
    /// Requests per second to each target, from all instances together (retries included);
    /// unlimited when omitted. A bucket of half a second's worth (at least one): at most 1.5
    /// times the rate in any one second (2 at a rate of 1). Deliveries held back wait in the queue without spending attempts.
    pub rate_limit_per_second: Option<u32>,
    /// Send each shopper's deliveries to each target one at a time, in the order their triggers
    /// were accepted (default false). The shopper is the user a trigger names, else its
    /// AnonymousID, else its order. A delivery waiting for its retry holds the shopper's later
    /// ones until it succeeds, is skipped or ends as a dead letter; other shoppers go on. Holds
    /// the deliveries queued while it is set; turning it off lets those waiting go.
    pub ordered: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub id: ResourceId,
    pub name: String,
    pub enabled: bool,
    pub targets: DeliveryTargets,
    pub policy: DeliveryPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    pub retry_schedule: Vec<Duration>,
    pub timeout: Duration,
    pub max_in_flight: u32,
    pub rate_limit_per_second: Option<u32>,
    pub ordered: bool,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            retry_schedule: DEFAULT_RETRY_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(u64::from(*s)))
                .collect(),
            timeout: Duration::from_secs(u64::from(DEFAULT_TIMEOUT_SECONDS)),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            rate_limit_per_second: None,
            ordered: false,
        }
    }
}

/// Checks that a body's `ID`, when given, names the resource in the URL. Renaming through
/// PUT/PATCH is not supported: TrackingEvents and deliveries refer to the old ID.
pub fn id_matching_path(body_id: Option<&str>, path_id: &ResourceId) -> Result<ResourceId, Invalid> {
    match body_id {
        None => Ok(path_id.clone()),
        Some(id) if id == path_id.as_str() => Ok(path_id.clone()),
        Some(id) => Err(Invalid::new(
            InvalidCode::InvalidId,
            "ID",
            format!("ID {id:?} in the body does not match {path_id:?} in the URL; IDs cannot be changed."),
        )),
    }
}

impl DeliveryConfig {
    /// Parses a document. `path_id` is the ID from the URL (PUT, PATCH); without one (POST) the
    /// document's ID is used or a new one generated.
    pub fn parse(doc: &DeliveryConfigDoc, path_id: Option<&ResourceId>) -> Result<Self, Invalids> {
        let mut invalids = Invalids::default();
        let id = invalids.take(match path_id {
            Some(path_id) => id_matching_path(doc.id.as_deref(), path_id),
            None => ResourceId::parse_or_generate("ID", doc.id.as_deref()),
        });
        let name = invalids.take(required_text("Name", doc.name.as_deref(), MAX_NAME_LEN));
        let targets = invalids.take(match &doc.delivery_targets {
            None => Err(Invalids::from(Invalid::required("DeliveryTargets"))),
            Some(targets) => DeliveryTargets::parse("DeliveryTargets", targets),
        });
        let policy = invalids.take(DeliveryPolicy::parse("DeliveryPolicy", doc.delivery_policy.as_ref()));
        invalids.finish(|| DeliveryConfig {
            id: id.expect("checked by finish"),
            name: name.expect("checked by finish"),
            enabled: doc.enabled.unwrap_or(true),
            targets: targets.expect("checked by finish"),
            policy: policy.expect("checked by finish"),
        })
    }

    /// Parses a stored document, with the rotation in progress of its Http target's Secret,
    /// which only storage holds ([`DeliveryTargets::parse_stored`]).
    pub fn parse_stored(doc: &DeliveryConfigDoc, id: &ResourceId) -> Result<Self, Invalids> {
        let mut config = DeliveryConfig::parse(doc, Some(id))?;
        if let Some(stored) = &doc.delivery_targets {
            config.targets.restore_rotation(stored);
        }
        Ok(config)
    }

    /// The stored document: secrets in clear, policy with its defaults filled in.
    pub fn to_doc(&self) -> DeliveryConfigDoc {
        DeliveryConfigDoc {
            id: Some(self.id.to_string()),
            name: Some(self.name.clone()),
            enabled: Some(self.enabled),
            delivery_targets: Some(self.targets.to_doc()),
            delivery_policy: Some(self.policy.to_doc()),
            disabled_targets: None,
        }
    }
}

impl DeliveryConfigDoc {
    /// What API readers see at `now`: the same document with secrets masked.
    pub fn masked(&self, now: DateTime<Utc>) -> Self {
        DeliveryConfigDoc {
            delivery_targets: self.delivery_targets.as_ref().map(|targets| targets.masked(now)),
            ..self.clone()
        }
    }

    /// Keeps stored secrets wherever this document carries the mask a reader was shown.
    pub fn restore_masked(&mut self, stored: &DeliveryConfigDoc) {
        if let (Some(new), Some(old)) = (&mut self.delivery_targets, &stored.delivery_targets) {
            new.restore_masked(old);
        }
    }
}

impl DeliveryPolicy {
    pub fn parse(field: &str, doc: Option<&DeliveryPolicyDoc>) -> Result<Self, Invalids> {
        let defaults = DeliveryPolicy::default();
        let Some(doc) = doc else {
            return Ok(defaults);
        };
        let mut invalids = Invalids::default();
        let out_of_range =
            |name: &str, message: String| Invalid::new(InvalidCode::InvalidValue, format!("{field}.{name}"), message);
        let retry_schedule = match &doc.retry_schedule {
            None => defaults.retry_schedule,
            Some(schedule) => {
                if schedule.len() > MAX_RETRIES {
                    invalids.push(out_of_range(
                        "RetrySchedule",
                        format!("{field}.RetrySchedule may hold at most {MAX_RETRIES} retries."),
                    ));
                }
                if schedule.iter().any(|s| *s > MAX_RETRY_DELAY_SECONDS) {
                    invalids.push(out_of_range(
                        "RetrySchedule",
                        format!(
                            "{field}.RetrySchedule delays must be at most {MAX_RETRY_DELAY_SECONDS} seconds (7 days)."
                        ),
                    ));
                }
                schedule.iter().map(|s| Duration::from_secs(u64::from(*s))).collect()
            }
        };
        let timeout_seconds = doc.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout_seconds) {
            invalids.push(out_of_range(
                "TimeoutSeconds",
                format!("{field}.TimeoutSeconds must be between 1 and {MAX_TIMEOUT_SECONDS}."),
            ));
        }
        let max_in_flight = doc.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
        if !(1..=1_000).contains(&max_in_flight) {
            invalids.push(out_of_range(
                "MaxInFlight",
                format!("{field}.MaxInFlight must be between 1 and 1000."),
            ));
        }
        if doc.rate_limit_per_second.is_some_and(|r| !(1..=100_000).contains(&r)) {
            invalids.push(out_of_range(
                "RateLimitPerSecond",
                format!("{field}.RateLimitPerSecond must be between 1 and 100000, or omitted for no limit."),
            ));
        }
        invalids.finish(|| DeliveryPolicy {
            retry_schedule,
            timeout: Duration::from_secs(u64::from(timeout_seconds)),
            max_in_flight,
            rate_limit_per_second: doc.rate_limit_per_second,
            ordered: doc.ordered.unwrap_or(false),
        })
    }

    pub fn to_doc(&self) -> DeliveryPolicyDoc {
        let seconds = |d: &Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        DeliveryPolicyDoc {
            retry_schedule: Some(self.retry_schedule.iter().map(seconds).collect()),
            timeout_seconds: Some(seconds(&self.timeout)),
            max_in_flight: Some(self.max_in_flight),
            rate_limit_per_second: self.rate_limit_per_second,
            ordered: Some(self.ordered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::targets::HttpTargetDoc;

    fn doc() -> DeliveryConfigDoc {
        DeliveryConfigDoc {
            id: Some("cfg1".into()),
            name: Some("Webhook".into()),
            delivery_targets: Some(DeliveryTargetsDoc {
                http: Some(HttpTargetDoc {
                    endpoint: Some("https://example.com/hook".into()),
                    secret: Some("s".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn parses_a_minimal_config_with_defaults() {
        let config = DeliveryConfig::parse(&doc(), None).unwrap();
        assert_eq!(config.id.as_str(), "cfg1");
        assert!(config.enabled);
        assert_eq!(config.policy, DeliveryPolicy::default());
        assert_eq!(config.policy.retry_schedule.len(), 9);
    }

    #[test]
    fn missing_fields_are_all_reported() {
        let fields: Vec<String> = DeliveryConfig::parse(&DeliveryConfigDoc::default(), None)
            .unwrap_err()
            .0
            .into_iter()
            .map(|i| i.field)
            .collect();
        assert_eq!(fields, ["Name", "DeliveryTargets"]);
    }

    #[test]
    fn body_id_must_match_the_url() {
        let path = ResourceId::parse("ID", "other").unwrap();
        let err = DeliveryConfig::parse(&doc(), Some(&path)).unwrap_err();
        assert_eq!(err.0[0].code, InvalidCode::InvalidId);
        let mut without_id = doc();
        without_id.id = None;
        assert_eq!(DeliveryConfig::parse(&without_id, Some(&path)).unwrap().id, path);
    }

    #[test]
    fn policy_bounds_are_enforced() {
        let policy = DeliveryPolicyDoc {
            retry_schedule: Some(vec![1; 31]),
            timeout_seconds: Some(31),
            max_in_flight: Some(0),
            rate_limit_per_second: Some(0),
            ordered: None,
        };
        let fields: Vec<String> = DeliveryPolicy::parse("P", Some(&policy))
            .unwrap_err()
            .0
            .into_iter()
            .map(|i| i.field)
            .collect();
        assert_eq!(
            fields,
            [
                "P.RetrySchedule",
                "P.TimeoutSeconds",
                "P.MaxInFlight",
                "P.RateLimitPerSecond"
            ]
        );
    }

    #[test]
    fn stored_document_round_trips() {
        let config = DeliveryConfig::parse(&doc(), None).unwrap();
        let stored = config.to_doc();
        let again = DeliveryConfig::parse(&stored, None).unwrap();
        assert_eq!(again.to_doc(), stored);
        assert_eq!(
            stored
                .masked(Utc::now())
                .delivery_targets
                .unwrap()
                .http
                .unwrap()
                .secret
                .as_deref(),
            Some("********")
        );
    }
}
