-- A service account's lifecycle, as Mixpanel's service-accounts spec shows it: when it
-- expires (NULL: never; past it, it authenticates no more), when it last
-- authenticated (written at most once a minute), and who made it (the audit columns of
-- saved objects; NULL for accounts made before this).
ALTER TABLE service_accounts ADD COLUMN expires_at_ms INTEGER;
ALTER TABLE service_accounts ADD COLUMN last_used_ms INTEGER;
ALTER TABLE service_accounts ADD COLUMN creator_kind TEXT;
ALTER TABLE service_accounts ADD COLUMN creator_id INTEGER;
ALTER TABLE service_accounts ADD COLUMN creator_name TEXT;
