-- Feature flags (Mixpanel's flag management API): one row a flag, in a workspace of a
-- project. `definition` is the flag as the API takes it (name, key, context, serving
-- method, ruleset, hash salt...) as JSON text; `flag_key` and `status` are copied out
-- of it to be filtered and kept unique on. An archived flag is soft-deleted: its key
-- may be used again.
CREATE TABLE feature_flags (
    id             TEXT    PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id),
    flag_key       TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    definition     TEXT    NOT NULL,
    enabled_at_ms  INTEGER,
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
CREATE UNIQUE INDEX feature_flags_live_keys ON feature_flags (project_id, flag_key) WHERE status <> 'archived';
CREATE INDEX feature_flags_by_workspace ON feature_flags (project_id, workspace_id);

-- How many times each project's flags changed (raised in each change's transaction):
-- servers sharing the control plane compare it to see one another's changes.
CREATE TABLE flag_versions (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id),
    version    INTEGER NOT NULL
);
