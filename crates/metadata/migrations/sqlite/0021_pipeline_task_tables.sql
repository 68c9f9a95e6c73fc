-- The tables a schematized pipeline's partition last published (a JSON list): a
-- later publication removes those it no longer has, and only those.
ALTER TABLE pipeline_tasks ADD COLUMN tables TEXT;
