-- The delivery queue, read one target at a time.
--
-- Workers used to claim the oldest due rows of the whole queue, skipping those of targets at
-- their in-flight cap. A destination that times out keeps its cap full while its backlog grows,
-- so every claim walked further past that backlog and a healthy target's deliveries waited
-- behind it. Keyed by (DeliveryConfig, target) first, the index lets a claim find each queue
-- that has pending rows with one probe (a loose index scan) and take up to that target's free
-- slots from its oldest due rows: a claim costs the same whatever another target's backlog.
CREATE INDEX deliveries_queue_idx ON deliveries (delivery_config_id, target, next_attempt_at)
    WHERE status = 'Pending';

-- Replaced by the index above; one index fewer to update on every insert and claim.
DROP INDEX deliveries_due_idx;
