-- Personal API tokens: `sx_` + 40 hex characters, stored as a SHA-256 hash. Each is
-- scoped to one project and a set of API families, and expires; revoking keeps the row
-- (so lists show it) and stamps revoked_at_ms.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    name          TEXT    NOT NULL,
    families      TEXT    NOT NULL,
    token_prefix  TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX api_tokens_by_project ON api_tokens (project_id, id);
