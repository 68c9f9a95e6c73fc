-- Experiments (Mixpanel's experiments API): one row an experiment, in a workspace of a
-- project. `definition` holds the fields the API keeps as sent (name, description,
-- hypothesis, settings, variants, metrics, tags, caches, the decision) as JSON text;
-- `status`, the start and end (epoch ms) and `deleted_at_ms` (archived) are columns.
CREATE TABLE experiments (
    id             TEXT    PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    status         TEXT    NOT NULL,
    definition     TEXT    NOT NULL,
    start_ms       INTEGER,
    end_ms         INTEGER,
    deleted_at_ms  INTEGER,
    created_at_ms  INTEGER NOT NULL,
    modified_at_ms INTEGER,
    creator_kind   TEXT,
    creator_id     INTEGER,
    creator_name   TEXT,
    modifier_kind  TEXT,
    modifier_id    INTEGER,
    modifier_name  TEXT
);
CREATE INDEX experiments_by_workspace ON experiments (project_id, workspace_id);
