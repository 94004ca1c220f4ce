-- Snapshots stored as written: `json` rather than `jsonb`.
--
-- An event's hydrated payload, its 202 response and each delivery's TrackingEvent snapshot are
-- written once, read back whole and never searched inside. As `jsonb`, PostgreSQL parsed each
-- into its binary form on the way in and printed it back to text on the way out; as `json` it
-- only checks the text. Reads return the documents with their keys in the order written.
ALTER TABLE events
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN response TYPE json USING response::json;
ALTER TABLE deliveries
    ALTER COLUMN tracking_event TYPE json USING tracking_event::json;
