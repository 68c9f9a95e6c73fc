-- Annotations: a dated note on a project's charts ("YYYY-MM-DD HH:MM:SS", in the
-- project's time zone, as Mixpanel's annotations API spells it; text so that it sorts),
-- with the audit columns every saved object has, and the tags attached to them.
CREATE TABLE annotations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    date           TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    modified_at_ms INTEGER,
    creator_kind   TEXT,
    creator_id     INTEGER,
    creator_name   TEXT
);
CREATE INDEX annotations_by_date ON annotations (project_id, date);

CREATE TABLE annotation_tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name       TEXT    NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE annotation_tag_links (
    annotation_id INTEGER NOT NULL REFERENCES annotations(id) ON DELETE CASCADE,
    tag_id        INTEGER NOT NULL REFERENCES annotation_tags(id) ON DELETE CASCADE,
    PRIMARY KEY (annotation_id, tag_id)
);
