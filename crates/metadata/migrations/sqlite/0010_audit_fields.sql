-- Audit fields of the App API's saved objects: when each last changed, and who made it
-- (the kind of credential, its id for a service account or an API token, and a name
-- to show). Rows saved before this have no creator; their modified time is read as
-- their creation time (for funnels, their last update; for lookup tables, their last
-- replace, if any).
ALTER TABLE cohorts ADD COLUMN modified_at_ms INTEGER;
ALTER TABLE cohorts ADD COLUMN creator_kind TEXT;
ALTER TABLE cohorts ADD COLUMN creator_id INTEGER;
ALTER TABLE cohorts ADD COLUMN creator_name TEXT;
ALTER TABLE funnels ADD COLUMN modified_at_ms INTEGER;
ALTER TABLE funnels ADD COLUMN creator_kind TEXT;
ALTER TABLE funnels ADD COLUMN creator_id INTEGER;
ALTER TABLE funnels ADD COLUMN creator_name TEXT;
UPDATE funnels SET modified_at_ms = updated_at_ms;
ALTER TABLE bookmarks ADD COLUMN modified_at_ms INTEGER;
ALTER TABLE bookmarks ADD COLUMN creator_kind TEXT;
ALTER TABLE bookmarks ADD COLUMN creator_id INTEGER;
ALTER TABLE bookmarks ADD COLUMN creator_name TEXT;
ALTER TABLE lookup_tables ADD COLUMN modified_at_ms INTEGER;
ALTER TABLE lookup_tables ADD COLUMN creator_kind TEXT;
ALTER TABLE lookup_tables ADD COLUMN creator_id INTEGER;
ALTER TABLE lookup_tables ADD COLUMN creator_name TEXT;
UPDATE lookup_tables SET modified_at_ms = replaced_at_ms;
