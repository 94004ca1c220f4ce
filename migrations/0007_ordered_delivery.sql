-- Ordered delivery (DeliveryPolicy.Ordered): to such a target, the deliveries about one shopper
-- are sent one at a time, in the order their triggers were accepted.
--
-- `shopper` is the shopper's key (the first eight bytes of the SHA-256 of "user/…", else
-- "anonymous/…", else "order/…": the name of the lock the accepting transaction held), set
-- only on deliveries to a target that was ordered when they were queued. `seq` is their place:
-- the accepting batch's number (from `delivery_batches`, drawn while the batch held the
-- shopper's lock, so a later batch about the shopper draws a greater one) times 2^20, plus
-- the trigger's place in its batch; deliveries of one trigger follow their IDs. A claim takes a
-- delivery of an ordered target only when no pending delivery of its shopper to that target
-- comes before it: the one in flight, or waiting for its retry, holds the rest back.
CREATE SEQUENCE delivery_batches;

ALTER TABLE deliveries ADD COLUMN shopper bigint, ADD COLUMN seq bigint;

-- Finds whether a shopper has an earlier pending delivery: one probe per delivery a claim
-- considers. Only ordered deliveries are in it.
CREATE INDEX deliveries_shopper_idx ON deliveries (delivery_config_id, target, shopper, seq, id)
    WHERE status = 'Pending' AND shopper IS NOT NULL;
