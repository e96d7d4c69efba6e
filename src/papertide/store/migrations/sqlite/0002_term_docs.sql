-- Document frequency of every indexed term, refreshed after each sync.
-- fts5vocab counts a term's documents by reading its whole posting list;
-- this table answers the same question with one B-tree lookup.
CREATE TABLE term_docs (
    term TEXT PRIMARY KEY,
    docs INTEGER NOT NULL
) WITHOUT ROWID;
