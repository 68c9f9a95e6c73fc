-- Saved reports ("bookmarks" in Mixpanel): a report kind and its query parameters,
-- computed on demand by /insights?bookmark_id=.
CREATE TABLE bookmarks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    params        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX bookmarks_by_project ON bookmarks (project_id, id);
