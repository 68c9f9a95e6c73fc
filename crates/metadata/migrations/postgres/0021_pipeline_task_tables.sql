-- PostgreSQL twin of ../sqlite/0021_pipeline_task_tables.sql (same version; see ../README.md).
ALTER TABLE pipeline_tasks ADD COLUMN tables TEXT;
