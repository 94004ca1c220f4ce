-- Configuration: DeliveryConfigs, TrackingEvents, the ErrorConfig singleton and API keys.
--
-- Every constraint is named: storage/mod.rs maps these names to API errors (409 IdExists,
-- 400 ReferenceNotFound, 409 InUse) in one place, so no handler inspects SQLSTATEs.

CREATE TABLE delivery_configs (
    id          text        NOT NULL,
    name        text        NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    -- The DeliveryTargets document (OrderCloud field names), secrets included: the API masks
    -- them on the way out, and only the delivery engine reads them.
    targets     jsonb       NOT NULL,
    -- The DeliveryPolicy document with every default filled in.
    policy      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_configs_pkey PRIMARY KEY (id)
);

CREATE TABLE tracking_events (
    id                  text        NOT NULL,
    name                text        NOT NULL,
    event_type          text        NOT NULL,
    client_id           text        NOT NULL,
    delivery_config_id  text        NOT NULL,
    config_data         jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tracking_events_pkey PRIMARY KEY (id),
    -- RESTRICT: a DeliveryConfig in use cannot be deleted out from under its TrackingEvents.
    CONSTRAINT tracking_events_delivery_config_fkey FOREIGN KEY (delivery_config_id)
        REFERENCES delivery_configs (id) ON DELETE RESTRICT
);

-- Trigger matching looks TrackingEvents up by (ClientID, EventType).
CREATE INDEX tracking_events_client_event_idx ON tracking_events (client_id, event_type);
CREATE INDEX tracking_events_delivery_config_idx ON tracking_events (delivery_config_id);

-- At most one row: the `singleton` column can only be true and is the primary key.
CREATE TABLE error_config (
    singleton           boolean     NOT NULL DEFAULT true,
    delivery_config_id  text        NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT error_config_pkey PRIMARY KEY (singleton),
    CONSTRAINT error_config_singleton_check CHECK (singleton),
    CONSTRAINT error_config_delivery_config_fkey FOREIGN KEY (delivery_config_id)
        REFERENCES delivery_configs (id) ON DELETE RESTRICT
);

CREATE TABLE api_keys (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    -- SHA-256 of the token. Tokens carry 256 random bits, so a fast hash is enough: there is
    -- nothing to brute-force, and lookups stay one index probe.
    token_hash  bytea       NOT NULL,
    roles       text[]      NOT NULL,
    -- ClientIDs a TriggerSender key may post triggers for; empty for other roles.
    client_ids  text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_token_hash_key UNIQUE (token_hash)
);
