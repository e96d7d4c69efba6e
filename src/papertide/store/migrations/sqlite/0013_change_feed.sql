-- tantivy is the keyword index (store/keyword.py): FTS5, its triggers and the bookkeeping of
-- the in-memory index go. Every write to a paper takes the next value of one store-wide
-- sequence (papers.seq): derived indexes remember the value they reached and catch up from it.
DROP TRIGGER IF EXISTS papers_insert;
DROP TRIGGER IF EXISTS papers_fts_insert;
DROP TRIGGER IF EXISTS papers_fts_delete;
DROP TRIGGER IF EXISTS papers_fts_update;
DROP TRIGGER IF EXISTS keyword_state_insert;
DROP TRIGGER IF EXISTS keyword_state_delete;
DROP TRIGGER IF EXISTS keyword_state_update;
DROP TABLE IF EXISTS papers_vocab;
DROP TABLE IF EXISTS papers_fts;
DROP TABLE IF EXISTS fts_bulk_write;

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO store_meta (key, value) SELECT 'uid', store_uid FROM keyword_state;
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('uid', lower(hex(randomblob(8))));
DROP TABLE IF EXISTS keyword_state;

ALTER TABLE papers ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE papers SET seq = pk;
CREATE INDEX papers_seq ON papers (seq);
INSERT INTO store_meta (key, value) SELECT 'seq', coalesce(max(pk), 0) FROM papers;
