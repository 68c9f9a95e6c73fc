-- PostgreSQL twin of ../sqlite/0017_feature_flags.sql (same version; see ../README.md).
CREATE TABLE feature_flags (
    id             TEXT   COLLATE "C" PRIMARY KEY,
    project_id     BIGINT NOT NULL REFERENCES projects(id),
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id),
    flag_key       TEXT   COLLATE "C" NOT NULL,
    status         TEXT   NOT NULL,
    definition     TEXT   NOT NULL,
    enabled_at_ms  BIGINT,
    deleted_at_ms  BIGINT,
    created_at_ms  BIGINT NOT NULL,
    modified_at_ms BIGINT,
    creator_kind   TEXT,
    creator_id     BIGINT,
    creator_name   TEXT,
    modifier_kind  TEXT,
    modifier_id    BIGINT,
    modifier_name  TEXT
);
CREATE UNIQUE INDEX feature_flags_live_keys ON feature_flags (project_id, flag_key) WHERE status <> 'archived';
CREATE INDEX feature_flags_by_workspace ON feature_flags (project_id, workspace_id);

CREATE TABLE flag_versions (
    project_id BIGINT PRIMARY KEY REFERENCES projects(id),
    version    BIGINT NOT NULL
);
