-- Data residency: the region whose hosts serve the project (us, eu, in).
ALTER TABLE projects ADD COLUMN region TEXT NOT NULL DEFAULT 'us';
