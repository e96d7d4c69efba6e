-- Faster imports (issue: foundation).
-- FTS5 (SQLite 3.40) writes its pending terms to disk at every statement savepoint,
-- so the per-row triggers of 0001 left one tiny index segment per paper, then merged
-- them: building the index that way took several times longer than in bulk. Ingest
-- now indexes a page's new and changed papers with one INSERT ... SELECT; while it
-- writes, its transaction holds one row in fts_bulk_write, which turns the insert and
-- update triggers off. Every other write is still indexed by the triggers.
CREATE TABLE IF NOT EXISTS fts_bulk_write (
    active INTEGER NOT NULL  -- a row exists only inside an ingest transaction
);

DROP TRIGGER IF EXISTS papers_fts_insert;
CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers
WHEN NOT EXISTS (SELECT 1 FROM fts_bulk_write) BEGIN
    INSERT INTO papers_fts (rowid, title, abstract, author_names)
    VALUES (new.pk, new.title, new.abstract, new.author_names);
END;

DROP TRIGGER IF EXISTS papers_fts_update;
CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract, author_names ON papers
WHEN NOT EXISTS (SELECT 1 FROM fts_bulk_write) BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, abstract, author_names)
    VALUES ('delete', old.pk, old.title, old.abstract, old.author_names);
    INSERT INTO papers_fts (rowid, title, abstract, author_names)
    VALUES (new.pk, new.title, new.abstract, new.author_names);
END;

-- Pending terms kept in memory before FTS5 writes a segment (default 1 MB): fewer,
-- larger segments to merge during an import.
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 33554432);
