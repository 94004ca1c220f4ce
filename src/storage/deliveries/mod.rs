//! The delivery queue. Workers [`claim`] due rows in batches (FOR UPDATE SKIP LOCKED, then a
//! lease, then commit: no transaction is open while requests are in flight) and write their
//! outcomes back with [`record`]: one statement per batch (a transaction when dead letters add
//! more to write).

mod claim;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub use claim::{claim, Batch, Claimed, InFlight};

use super::dead_letters;
use super::ingest::CHANNEL;
use super::StorageError;
use crate::domain::attempt::FailureKind;
use crate::domain::delivery::{DeliveryId, DeliveryStatus};

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

impl Outcome {
    /// Whether it ends a delivery that held back its shopper's later ones (`Ordered`): the
    /// next may go.
    fn releases_shopper(&self) -> bool {
        self.delivery.holds_shopper && !matches!(self.next, Next::RetryAt(_))
    }
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
///
/// When `$14` says a delivery holding back its shopper's later ones is done, every instance's
/// workers are notified on commit (`$13`), to claim the next.
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
SELECT a.id FROM applied a LEFT JOIN LATERAL (SELECT pg_notify($13, '') WHERE $14) woken ON true";

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
        .bind(&bodies)
        .bind(CHANNEL)
        .bind(outcomes.iter().any(Outcome::releases_shopper));
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
