-- Saved funnels: a definition (steps, conversion window, ordering) as JSON, computed on
-- demand by GET /funnels?funnel_id=.
CREATE TABLE funnels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    name          TEXT    NOT NULL,
    definition    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX funnels_by_project ON funnels (project_id, id);
