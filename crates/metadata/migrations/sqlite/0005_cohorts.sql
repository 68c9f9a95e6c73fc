-- Cohorts: saved profile definitions (a `where` and behaviours), counted live.
CREATE TABLE cohorts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    definition    TEXT    NOT NULL,
    is_visible    INTEGER NOT NULL DEFAULT 1,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX cohorts_by_project ON cohorts (project_id, id);
