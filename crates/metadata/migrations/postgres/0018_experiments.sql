-- PostgreSQL twin of ../sqlite/0018_experiments.sql (same version; see ../README.md).
CREATE TABLE experiments (
    id             TEXT   COLLATE "C" PRIMARY KEY,
    project_id     BIGINT NOT NULL REFERENCES projects(id),
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id),
    status         TEXT   NOT NULL,
    definition     TEXT   NOT NULL,
    start_ms       BIGINT,
    end_ms         BIGINT,
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
CREATE INDEX experiments_by_workspace ON experiments (project_id, workspace_id);
