-- PostgreSQL twin of ../sqlite/0009_api_token_parents.sql (same version; see ../README.md).
-- The token that created a token, when an API token created it (NULL when a service
-- account, the project secret or the CLI did). A token created by a token never
-- outlives it, and revoking a token revokes every token created through it.
ALTER TABLE api_tokens ADD COLUMN parent_id BIGINT REFERENCES api_tokens(id);
CREATE INDEX api_tokens_by_parent ON api_tokens (parent_id);
