-- A token bucket for each rate-limited target (DeliveryPolicy.RateLimitPerSecond), shared by
-- every instance: a claim takes the tokens for the deliveries it leases under the row's lock,
-- so that instances together stay within the limit. `tokens` is what was left at `refilled_at`;
-- the bucket refills at the rate, up to half a second's worth. The first claim for a limited
-- target creates its row, full.
CREATE TABLE target_rates (
    delivery_config_id text             NOT NULL REFERENCES delivery_configs (id) ON DELETE CASCADE,
    target             text             NOT NULL,
    tokens             double precision NOT NULL,
    refilled_at        timestamptz      NOT NULL,
    CONSTRAINT target_rates_pkey PRIMARY KEY (delivery_config_id, target)
);
