//! Claiming due deliveries: one statement reads the queue one target at a time, takes up to
//! each target's free places (its `MaxInFlight`, less what this worker has in flight, and no
//! more than its rate limit's tokens) from its oldest due rows, and leases them.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;

use crate::domain::delivery::DeliveryId;
use crate::domain::delivery_config::DEFAULT_MAX_IN_FLIGHT;
use crate::domain::targets::{TargetKey, TargetKind};
use crate::storage::column_types::Readable;
use crate::storage::delivery_configs::{ConfigNow, ConfigRow};
use crate::storage::StorageError;

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
    /// About a shopper of an `Ordered` target: the shopper's later deliveries wait until this
    /// one is done, and recording it done wakes the workers to claim the next.
    pub holds_shopper: bool,
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
    holds_shopper: bool,
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
            holds_shopper: self.holds_shopper,
        };
        (claimed, unreadable)
    }
}

/// Due deliveries, up to each target's free slots and `$2` in all, leased until `$3`. A
/// rate-limited target gives no more than its bucket's whole tokens, and the bucket is charged
/// for what it gave (`buckets`, locked, then `spent`). Only a limited target with a due
/// delivery has its bucket locked, and a bucket another claim holds counts as empty for this
/// one (`SKIP LOCKED`): claims never wait on each other for a bucket, and the next takes what
/// is left. Limited targets are served first, since tokens past a full bucket are lost. A
/// limited target without a bucket gets a full one (`fresh`), used from the next claim on:
/// inserted once, whichever instance gets there first. Of an `Ordered` target, a delivery
/// about a shopper is taken only when no pending delivery of that shopper to the target comes
/// before it (`deliveries_shopper_idx`, one probe).
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
limits AS (
    SELECT q.delivery_config_id, q.target, (c.policy ->> 'RateLimitPerSecond')::float8 AS rate
    FROM queues q JOIN delivery_configs c ON c.id = q.delivery_config_id
    WHERE c.policy ->> 'RateLimitPerSecond' IS NOT NULL
      AND EXISTS (SELECT 1 FROM deliveries d
                  WHERE d.status = 'Pending' AND d.delivery_config_id = q.delivery_config_id
                    AND d.target = q.target AND d.next_attempt_at <= $1)),
buckets AS (
    SELECT b.delivery_config_id, b.target,
           LEAST(GREATEST(l.rate / 2, 1),
                 b.tokens + l.rate * GREATEST(EXTRACT(EPOCH FROM $1 - b.refilled_at)::float8, 0)) AS tokens
    FROM target_rates b
    JOIN limits l ON l.delivery_config_id = b.delivery_config_id AND l.target = b.target
    ORDER BY b.delivery_config_id, b.target
    FOR UPDATE OF b SKIP LOCKED),
fresh AS (
    INSERT INTO target_rates (delivery_config_id, target, tokens, refilled_at)
    SELECT delivery_config_id, target, GREATEST(rate / 2, 1), $1 FROM limits l
    WHERE NOT EXISTS (SELECT 1 FROM target_rates t
                      WHERE t.delivery_config_id = l.delivery_config_id AND t.target = l.target)
    ON CONFLICT ON CONSTRAINT target_rates_pkey DO NOTHING),
room AS (
    SELECT q.delivery_config_id, q.target,
           LEAST(COALESCE(f.cap, (c.policy ->> 'MaxInFlight')::bigint, $7) - COALESCE(f.requests, 0),
                 CASE WHEN c.policy ->> 'RateLimitPerSecond' IS NOT NULL
                      THEN floor(COALESCE(k.tokens, 0))::bigint END) AS free,
           COALESCE(c.policy ->> 'RateLimitPerSecond' IS NOT NULL, false) AS limited,
           COALESCE((c.policy ->> 'Ordered')::boolean, false) AS ordered
    FROM queues q
    LEFT JOIN delivery_configs c ON c.id = q.delivery_config_id
    LEFT JOIN buckets k ON k.delivery_config_id = q.delivery_config_id AND k.target = q.target
    LEFT JOIN unnest($4::text[], $5::text[], $6::int[], $8::int[]) AS f(delivery_config_id, target, requests, cap)
           ON f.delivery_config_id = q.delivery_config_id AND f.target = q.target),
due AS (
    SELECT d.id, r.delivery_config_id, r.target
    FROM (SELECT * FROM room WHERE free > 0 ORDER BY limited DESC, free DESC, delivery_config_id, target) r,
    LATERAL (
        SELECT id FROM deliveries n
        WHERE status = 'Pending' AND delivery_config_id = r.delivery_config_id AND target = r.target
          AND next_attempt_at <= $1
          AND (NOT r.ordered OR n.shopper IS NULL OR NOT EXISTS (
                SELECT 1 FROM deliveries e
                WHERE e.status = 'Pending' AND e.shopper IS NOT NULL
                  AND e.delivery_config_id = n.delivery_config_id AND e.target = n.target
                  AND e.shopper = n.shopper AND (e.seq, e.id) < (n.seq, n.id)))
        ORDER BY next_attempt_at
        LIMIT r.free
        FOR UPDATE SKIP LOCKED) d
    LIMIT $2),
spent AS (
    UPDATE target_rates b SET tokens = k.tokens - n.taken, refilled_at = GREATEST(b.refilled_at, $1)
    FROM (SELECT delivery_config_id, target, count(*) AS taken FROM due GROUP BY 1, 2) n
    JOIN buckets k ON k.delivery_config_id = n.delivery_config_id AND k.target = n.target
    WHERE b.delivery_config_id = n.delivery_config_id AND b.target = n.target)
UPDATE deliveries d
SET attempts = d.attempts + 1, lease_until = $3, next_attempt_at = $3, updated_at = $1
FROM events e
WHERE d.id = ANY (ARRAY(SELECT id FROM due)) AND e.id = d.event_id
RETURNING d.id, d.event_id, e.event_type, d.tracking_event_id, d.delivery_config_id, d.target, d.tracking_event,
          d.attempts, e.payload, d.shopper IS NOT NULL AS holds_shopper";

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
/// DeliveryPolicy's `MaxInFlight`, or the cap `in_flight` sets, less the requests in flight,
/// and no more than its `RateLimitPerSecond` tokens) from its oldest due rows. A target at its
/// cap costs a claim one probe, however long its backlog; the targets with the most free slots
/// are served first, so none is starved by others that are always busy.
///
/// The rate limit holds across instances: a limited target's claims take turns on its bucket's
/// row, each taking what the others left. Its bucket holds half a second's worth (at least
/// one), so any one-second window sends at most one and a half times the rate (a full bucket
/// spent at once, then a second's refill; twice the rate at a rate of 1); a smaller bucket
/// would need more frequent claims to keep up the rate. Tokens charged for deliveries a worker
/// gives back unattempted are not refunded: the target then sends less than its limit, never
/// more.
///
/// Order holds across instances: the first pending delivery of a shopper to an `Ordered`
/// target is the only one of the shopper's that any claim takes, and it stays pending (leased,
/// or due for a retry) until its attempt is recorded as a success, a skip or a dead letter; a
/// claim running beside another sees it pending, or finds it locked and skips it. A shopper so
/// held costs a claim one probe for each of its deliveries waiting behind it.
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
