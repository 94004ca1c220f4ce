-- An attempt's error_kind is one of a closed list, as a delivery's status already is: the same
-- list as the FailureKind enum (a test compares them). (0002's comment on the column predates
-- Rejected, Unreadable and Interrupted; BodyTooLarge was never recorded.) NOT VALID, then
-- VALIDATE: existing rows are checked without blocking writes for the scan.
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_error_kind_check CHECK (error_kind IN (
    'Timeout', 'Dns', 'Connect', 'Tls', 'ForbiddenAddress', 'Redirect', 'Status', 'Rejected', 'Request',
    'Config', 'Unreadable', 'Interrupted')) NOT VALID;
ALTER TABLE delivery_attempts VALIDATE CONSTRAINT delivery_attempts_error_kind_check;
