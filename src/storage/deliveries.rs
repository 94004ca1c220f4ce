//! The delivery queue. Workers [`claim`] due rows in batches (FOR UPDATE SKIP LOCKED, then a
//! lease, then commit: no transaction is open while requests are in flight) and write their
//! outcomes back with [`record`]: one statement per batch (a transaction when dead letters add
//! more to write).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

use super::column_types::Readable;
use super::dead_letters;
use super::delivery_configs::{ConfigNow, ConfigRow};
use super::StorageError;
use crate::domain::attempt::FailureKind;
use crate::domain::delivery::{DeliveryId, DeliveryStatus};
use crate::domain::delivery_config::DEFAULT_MAX_IN_FLIGHT;
use crate::domain::targets::{TargetKey, TargetKind};

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: DeliveryId,
    pub event_id: String,
    pub event_type: String,
    pub tracking_event_id: String,
    pub delivery_config_id: String,
    pub target: TargetKind,
    pub tracking_event: Json<Value>,
    /// This attempt's number, and the fencing token for recording its outcome.
    pub attempts: i32,
    pub payload: Json<Value>,
}

impl Claimed {
    /// The target it goes to.
    pub fn target_key(&self) -> TargetKey {
        TargetKey::new(&self.delivery_config_id, self.target)
    }
}

#[derive(Debug, Default)]
pub struct Batch {
    pub deliveries: Vec<Claimed>,
    pub configs: HashMap<String, ConfigNow>,
    /// Claimed deliveries whose stored payload or TrackingEvent cannot be read (a document
    /// nested beyond what the JSON parser takes, stored before such documents were refused),
    /// with the reason. Nothing can ever be sent for them: they are recorded as dead letters.
    pub unreadable: Vec<(Claimed, String)>,
}

/// A claimed row as read, its documents not yet known to be readable.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: DeliveryId,
    event_id: String,
    event_type: String,
    tracking_event_id: String,
    delivery_config_id: String,
    target: String,
    tracking_event: Readable,
    attempts: i32,
    payload: Readable,
}

impl ClaimedRow {
    /// The delivery, and why its documents cannot be read when they cannot (it then has
    /// none).
    fn into_claimed(self) -> (Claimed, Option<String>) {
        let mut unreadable = None;
        // Only Trackway writes the column: an unknown kind is a row this version cannot read.
        let target = TargetKind::parse(&self.target).unwrap_or_else(|| {
            unreadable = Some(format!("its target {:?} is not a kind of target", self.target));
            TargetKind::Http
        });
        let mut readable = |document: Readable, what: &str| {
            document.0.unwrap_or_else(|err| {
                unreadable.get_or_insert_with(|| format!("{what} cannot be read: {err}"));
                Value::Null
            })
        };
        let tracking_event = readable(self.tracking_event, "its stored TrackingEvent");
        let payload = readable(self.payload, "its event's stored payload");
        let claimed = Claimed {
            id: self.id,
            event_id: self.event_id,
            event_type: self.event_type,
            tracking_event_id: self.tracking_event_id,
            delivery_config_id: self.delivery_config_id,
            target,
            tracking_event: Json(tracking_event),
            attempts: self.attempts,
            payload: Json(payload),
        };
        (claimed, unreadable)
    }
}

/// Due deliveries, up to each target's free slots and `$2` in all, leased until `$3`.
const CLAIM_SQL: &str = "
WITH RECURSIVE
queues (delivery_config_id, target) AS (
    (SELECT delivery_config_id, target FROM deliveries
     WHERE status = 'Pending'
     ORDER BY delivery_config_id, target
     LIMIT 1)
    UNION ALL
    SELECT later.delivery_config_id, later.target
    FROM queues q, LATERAL (
        SELECT delivery_config_id, target FROM deliveries
        WHERE status = 'Pending' AND (delivery_config_id, target) > (q.delivery_config_id, q.target)
        ORDER BY delivery_config_id, target
        LIMIT 1) later),
room AS (
    SELECT q.delivery_config_id, q.target,
           COALESCE(f.cap, (c.policy ->> 'MaxInFlight')::bigint, $7) - COALESCE(f.requests, 0) AS free
    FROM queues q
    LEFT JOIN delivery_configs c ON c.id = q.delivery_config_id
    LEFT JOIN unnest($4::text[], $5::text[], $6::int[], $8::int[]) AS f(delivery_config_id, target, requests, cap)
           ON f.delivery_config_id = q.delivery_config_id AND f.target = q.target),
due AS (
    SELECT d.id
    FROM (SELECT * FROM room WHERE free > 0 ORDER BY free DESC, delivery_config_id, target) r,
    LATERAL (
        SELECT id FROM deliveries
        WHERE status = 'Pending' AND delivery_config_id = r.delivery_config_id AND target = r.target
          AND next_attempt_at <= $1
        ORDER BY next_attempt_at
        LIMIT r.free
        FOR UPDATE SKIP LOCKED) d
    LIMIT $2)
UPDATE deliveries d
SET attempts = d.attempts + 1, lease_until = $3, next_attempt_at = $3, updated_at = $1
FROM events e
WHERE d.id = ANY (ARRAY(SELECT id FROM due)) AND e.id = d.event_id
RETURNING d.id, d.event_id, e.event_type, d.tracking_event_id, d.delivery_config_id, d.target, d.tracking_event,
          d.attempts, e.payload";

/// This worker's load on one target of one DeliveryConfig: `requests` in flight take that
/// many of its `MaxInFlight` slots, and `cap`, when set, stands in for `MaxInFlight` (a target
/// may be listed for its cap alone, with no request in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub key: TargetKey,
    pub requests: i32,
    /// A cap lower than `MaxInFlight` for now (the target's circuit breaker is open: 0, or
    /// 1 for a probe).
    pub cap: Option<i32>,
}

/// Claims up to `limit` due deliveries and leases them until `now + lease`. A lease that runs
/// out leaves the row due again, so a crashed worker's deliveries are picked up by others.
///
/// The queue is read one target at a time: each (DeliveryConfig, target) with pending rows is
/// found with one index probe (a loose index scan), and gives up to its free slots (its
/// DeliveryPolicy's `MaxInFlight`, or the cap `in_flight` sets, less the requests in flight)
/// from its oldest due rows. A target at its cap costs a claim one probe, however long its
/// backlog; the targets with the most free slots are served first, so none is starved by
/// others that are always busy.
pub async fn claim(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: u32,
    lease: Duration,
    in_flight: &[InFlight],
) -> Result<Batch, StorageError> {
    let lease_until = now + lease;
    let configs: Vec<&str> = in_flight.iter().map(|f| f.key.config.as_str()).collect();
    let targets: Vec<&str> = in_flight.iter().map(|f| f.key.kind.as_str()).collect();
    let requests: Vec<i32> = in_flight.iter().map(|f| f.requests).collect();
    let caps: Vec<Option<i32>> = in_flight.iter().map(|f| f.cap).collect();
    let rows: Vec<ClaimedRow> = sqlx::query_as(CLAIM_SQL)
        .bind(now)
        .bind(i64::from(limit))
        .bind(lease_until)
        .bind(&configs)
        .bind(&targets)
        .bind(&requests)
        .bind(i64::from(DEFAULT_MAX_IN_FLIGHT))
        .bind(&caps)
        .fetch_all(pool)
        .await?;
    let mut deliveries = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        match row.into_claimed() {
            (claimed, None) => deliveries.push(claimed),
            (claimed, Some(reason)) => unreadable.push((claimed, reason)),
        }
    }
    if deliveries.is_empty() {
        return Ok(Batch {
            unreadable,
            ..Batch::default()
        });
    }
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.delivery_config_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let configs: Vec<ConfigRow> = sqlx::query_as(
        "SELECT id, enabled, targets, policy, disabled_targets FROM delivery_configs WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(Batch {
        deliveries,
        configs: configs
            .into_iter()
            .map(|row| {
                let config = ConfigNow::from(row);
                (config.id.clone(), config)
            })
            .collect(),
        unreadable,
    })
}

/// Gives claimed deliveries back to the queue unattempted, due now, as if never claimed (a
/// worker claimed more than it found room for). One claimed again since is left alone.
pub async fn release(pool: &PgPool, claimed: &[Claimed], now: DateTime<Utc>) -> Result<(), StorageError> {
    let ids: Vec<&str> = claimed.iter().map(|d| d.id.as_str()).collect();
    let attempts: Vec<i32> = claimed.iter().map(|d| d.attempts).collect();
    sqlx::query(
        "UPDATE deliveries d
         SET attempts = d.attempts - 1, lease_until = NULL, next_attempt_at = $3
         FROM unnest($1::text[], $2::int[]) AS t(id, attempt)
         WHERE d.id = t.id AND d.attempts = t.attempt AND d.lease_until IS NOT NULL",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records attempts cut off by a shutdown, each `(delivery, attempt, started at)`, as
/// `Interrupted`, and makes their deliveries due again now, their leases released. One
/// recorded or claimed again since is left alone.
pub async fn interrupt(
    pool: &PgPool,
    interrupted: &[(DeliveryId, i32, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    if interrupted.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = interrupted.iter().map(|(id, _, _)| id.as_str()).collect();
    let attempts: Vec<i32> = interrupted.iter().map(|(_, n, _)| *n).collect();
    let started: Vec<DateTime<Utc>> = interrupted.iter().map(|(_, _, at)| *at).collect();
    sqlx::query(
        "WITH released AS (
             UPDATE deliveries d
             SET lease_until = NULL, next_attempt_at = $1, last_error = $5, updated_at = $1
             FROM unnest($2::text[], $3::int[]) AS t(id, attempt)
             WHERE d.id = t.id AND d.attempts = t.attempt AND d.lease_until IS NOT NULL
             RETURNING d.id)
         INSERT INTO delivery_attempts (delivery_id, n, started_at, duration_ms, error_kind, error_message)
         SELECT t.id, t.attempt, t.started, 1000 * extract(epoch FROM $1 - t.started), $6, $5
         FROM unnest($2::text[], $3::int[], $4::timestamptz[]) AS t(id, attempt, started)
         JOIN released r ON r.id = t.id
         ON CONFLICT ON CONSTRAINT delivery_attempts_pkey DO NOTHING",
    )
    .bind(now)
    .bind(&ids)
    .bind(&attempts)
    .bind(&started)
    .bind("Trackway shut down while the request was in flight; the destination may or may not have received it")
    .bind(FailureKind::Interrupted)
    .execute(pool)
    .await?;
    Ok(())
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery: Claimed,
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub status_code: Option<i32>,
    pub error_kind: Option<FailureKind>,
    pub error_message: Option<String>,
    pub response_body: Option<String>,
    pub next: Next,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed {
        reason: String,
        disable_target: bool,
    },
    /// The target cannot express the event: nothing was sent, nothing will be.
    Skipped(String),
}

/// Each outcome: its delivery's new state (unless the delivery was claimed again since, its
/// lease having run out: the newer attempt owns the row), and the attempt's record.
///
/// A row is found by its key alone: the plan is made once per connection, often while the
/// queue is nearly empty, and a condition on `status` let it read the whole of the pending
/// rows' index instead (5 ms and 1,800 buffers a call behind a timing-out target's backlog).
/// A set lease says the same as `status = 'Pending'` here and more: only claims and handovers
/// set one, and recording, retry and recovery clear it.
const RECORD_SQL: &str = "
WITH
applied AS (
    UPDATE deliveries d
    SET status = t.status, next_attempt_at = t.next_at, lease_until = NULL, last_status_code = t.code,
        last_error = t.error, updated_at = $1
    FROM unnest($2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::int[], $7::text[])
         AS t(id, attempt, status, next_at, code, error)
    WHERE d.id = t.id AND d.attempts = t.attempt AND d.lease_until IS NOT NULL
    RETURNING d.id),
attempt AS (
    INSERT INTO delivery_attempts (delivery_id, n, started_at, duration_ms, status_code, error_kind, error_message,
                                   response_body)
    SELECT * FROM unnest($2::text[], $3::int[], $8::timestamptz[], $9::float8[], $6::int[], $10::text[], $11::text[],
                         $12::text[])
    ON CONFLICT ON CONSTRAINT delivery_attempts_pkey DO NOTHING)
SELECT id FROM applied";

/// Records a batch of outcomes in one statement, or one transaction when a dead letter also
/// disables its target or queues a failure notice. An outcome whose delivery was claimed again
/// since (its lease ran out) changes nothing but the record of attempts.
pub async fn record(pool: &PgPool, outcomes: &[Outcome], now: DateTime<Utc>) -> Result<(), StorageError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = outcomes.iter().map(|o| o.delivery.id.as_str()).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|o| o.delivery.attempts).collect();
    let started: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.started_at).collect();
    let durations: Vec<f64> = outcomes.iter().map(|o| o.duration_ms).collect();
    let codes: Vec<Option<i32>> = outcomes.iter().map(|o| o.status_code).collect();
    let kinds: Vec<Option<FailureKind>> = outcomes.iter().map(|o| o.error_kind).collect();
    let messages: Vec<Option<&str>> = outcomes.iter().map(|o| o.error_message.as_deref()).collect();
    let bodies: Vec<Option<&str>> = outcomes.iter().map(|o| o.response_body.as_deref()).collect();
    let statuses: Vec<DeliveryStatus> = outcomes
        .iter()
        .map(|o| match o.next {
            Next::Succeeded => DeliveryStatus::Succeeded,
            Next::RetryAt(_) => DeliveryStatus::Pending,
            Next::Failed { .. } => DeliveryStatus::Failed,
            Next::Skipped(_) => DeliveryStatus::Skipped,
        })
        .collect();
    let next_at: Vec<DateTime<Utc>> = outcomes
        .iter()
        .map(|o| match o.next {
            Next::RetryAt(at) => at,
            _ => now,
        })
        .collect();
    let last_errors: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| match &o.next {
            Next::Failed { reason, .. } | Next::Skipped(reason) => Some(reason.clone()),
            _ => o.error_message.clone(),
        })
        .collect();
    let query = sqlx::query_scalar(RECORD_SQL)
        .bind(now)
        .bind(&ids)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&next_at)
        .bind(&codes)
        .bind(&last_errors)
        .bind(&started)
        .bind(&durations)
        .bind(&kinds)
        .bind(&messages)
        .bind(&bodies);
    if !outcomes.iter().any(|o| matches!(o.next, Next::Failed { .. })) {
        // Nothing more to write: one statement, committed on its own.
        let _: Vec<DeliveryId> = query.fetch_all(pool).await?;
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let applied: HashSet<DeliveryId> = query.fetch_all(&mut *tx).await?.into_iter().collect();
    for outcome in outcomes.iter().filter(|o| applied.contains(&o.delivery.id)) {
        if let Next::Failed { reason, disable_target } = &outcome.next {
            if *disable_target {
                dead_letters::disable(&mut tx, &outcome.delivery, reason, now).await?;
            }
            if outcome.delivery.event_type != dead_letters::FAILURE_NOTICE {
                dead_letters::queue_failure_notice(&mut tx, &outcome.delivery, reason, now).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
