-- PostgreSQL twin of ../sqlite/0014_api_token_makers.sql (same version; see ../README.md).
-- The service account on whose authority a token was made (directly, or through the
-- tokens it was made under); NULL for the project secret and the CLI. A token stops
-- authenticating when that account is deleted or expires. No foreign key: the account's
-- row goes when it is deleted, and its absence is what the check reads.
ALTER TABLE api_tokens ADD COLUMN service_account_id BIGINT;
