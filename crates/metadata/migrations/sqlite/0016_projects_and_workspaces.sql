-- A project's own rate-limit overrides, set through the projects API: a JSON object of
-- family -> limits (NULL: none; the configuration file's apply).
ALTER TABLE projects ADD COLUMN rate_limits TEXT;

-- Workspaces (Mixpanel's data views): what a project's readers see. Every project has
-- one default workspace, "All Project Data", which shows everything; others may show
-- only some events (`events`, a JSON array; NULL: all) and hide some properties
-- (`hidden_properties`, a JSON array).
CREATE TABLE workspaces (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects(id),
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    is_default        INTEGER NOT NULL DEFAULT 0,
    events            TEXT,
    hidden_properties TEXT    NOT NULL DEFAULT '[]',
    created_at_ms     INTEGER NOT NULL,
    modified_at_ms    INTEGER,
    creator_kind      TEXT,
    creator_id        INTEGER,
    creator_name      TEXT
);
CREATE INDEX workspaces_by_project ON workspaces (project_id, id);

-- Service accounts confined to some workspaces of a project: an analyst or consumer
-- listed here reads the project only through the workspaces listing it.
CREATE TABLE workspace_members (
    workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    service_account_id INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, service_account_id)
);

-- How many times each project's Lexicon changed (raised in each change's transaction):
-- servers sharing the control plane compare it to see one another's changes.
CREATE TABLE lexicon_versions (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id),
    version    INTEGER NOT NULL
);

INSERT INTO workspaces (project_id, name, is_default, created_at_ms)
    SELECT id, 'All Project Data', 1, created_at_ms FROM projects;
