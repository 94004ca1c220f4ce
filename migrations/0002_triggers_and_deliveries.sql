-- Triggers and their deliveries: the entity store used for hydration, identity stitching,
-- accepted events (with their hydrated payload snapshot), the delivery queue and the
-- append-only record of every attempt.

-- Entity store. Documents are OrderCloud models as the commerce platform sent them.
CREATE TABLE users (
    id          text        NOT NULL,
    doc         jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id)
);

CREATE TABLE products (
    id          text        NOT NULL,
    doc         jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_pkey PRIMARY KEY (id)
);

CREATE TABLE orders (
    id          text        NOT NULL,
    user_id     text,
    doc         jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_pkey PRIMARY KEY (id)
);

-- Line items belong to an order but may arrive before it: no foreign key.
CREATE TABLE line_items (
    order_id    text        NOT NULL,
    id          text        NOT NULL,
    product_id  text,
    doc         jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT line_items_pkey PRIMARY KEY (order_id, id)
);

-- Identity stitching: an anonymous (beacon) ID linked to the user who logged in with it.
CREATE TABLE identities (
    anonymous_id  text        NOT NULL,
    user_id       text        NOT NULL,
    linked_at     timestamptz NOT NULL,
    CONSTRAINT identities_pkey PRIMARY KEY (anonymous_id)
);
CREATE INDEX identities_user_idx ON identities (user_id, linked_at DESC);

-- Accepted triggers. `payload` is the hydrated snapshot taken at accept time; `response` is
-- the 202 body, returned again when the same client repeats the same idempotency key.
CREATE TABLE events (
    id               text        NOT NULL,
    event_type       text        NOT NULL,
    client_id        text        NOT NULL,
    idempotency_key  text,
    user_id          text,
    anonymous_id     text,
    payload          jsonb       NOT NULL,
    response         jsonb       NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id),
    CONSTRAINT events_idempotency_key UNIQUE (client_id, idempotency_key)
);
CREATE INDEX events_received_idx ON events (received_at DESC, id);

-- The delivery queue: one row per (event, TrackingEvent, target). Workers claim due rows with
-- FOR UPDATE SKIP LOCKED and take a lease; an expired lease makes the row claimable again, so
-- a worker that dies mid-flight loses nothing. `attempts` doubles as the fencing token: an
-- outcome is written only if no newer claim has happened since.
CREATE TABLE deliveries (
    id                  text        NOT NULL,
    event_id            text        NOT NULL,
    tracking_event_id   text        NOT NULL,
    delivery_config_id  text        NOT NULL,
    -- Http, SendEvent, DiscoverEvent or Segment.
    target              text        NOT NULL,
    -- {ID, Name, ConfigData} of the TrackingEvent at accept time, merged into the payload.
    tracking_event      jsonb       NOT NULL,
    -- Pending (queued or in flight), Succeeded, Failed (dead letter) or Skipped.
    status              text        NOT NULL,
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    lease_until         timestamptz,
    last_status_code    integer,
    last_error          text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_event_fkey FOREIGN KEY (event_id) REFERENCES events (id),
    CONSTRAINT deliveries_status_check CHECK (status IN ('Pending', 'Succeeded', 'Failed', 'Skipped'))
) WITH (fillfactor = 80);  -- room for HOT updates as rows move through the queue

-- The workers' only query shape: due pending rows, oldest first.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'Pending';
CREATE INDEX deliveries_event_idx ON deliveries (event_id);
CREATE INDEX deliveries_config_idx ON deliveries (delivery_config_id, status, created_at);

CREATE TABLE delivery_attempts (
    delivery_id     text        NOT NULL,
    n               integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     double precision NOT NULL,
    status_code     integer,
    -- Timeout, Dns, Connect, Tls, ForbiddenAddress, Redirect, Status, BodyTooLarge, Request, Config.
    error_kind      text,
    error_message   text,
    -- At most 4 KiB of the response body.
    response_body   text,
    CONSTRAINT delivery_attempts_pkey PRIMARY KEY (delivery_id, n),
    CONSTRAINT delivery_attempts_delivery_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id)
);

-- Targets switched off by the engine (410 Gone): {"Http": {"Reason": "...", "DisabledAt": "..."}}.
-- POST /deliveryconfig/{id}/recover clears it.
ALTER TABLE delivery_configs ADD COLUMN disabled_targets jsonb NOT NULL DEFAULT '{}';
