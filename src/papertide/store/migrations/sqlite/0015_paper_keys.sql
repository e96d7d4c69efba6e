-- Other names of a paper: its DOIs (a preprint's and its journal version's), the ids of
-- records merged into it ('pmid:123'), and a key of its title and first author. A record
-- arriving under any of these is merged into that paper (store/sql_papers.py). Only looked up
-- by key: one B-tree, no index by pk (papers are never deleted).
CREATE TABLE paper_keys (
    key TEXT PRIMARY KEY,
    pk  INTEGER NOT NULL REFERENCES papers (pk) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT OR IGNORE INTO paper_keys (key, pk) SELECT 'doi:' || lower(trim(doi)), pk FROM papers WHERE doi != '';

-- The authors' affiliations, where a source gives them (PubMed).
ALTER TABLE papers ADD COLUMN affiliations TEXT NOT NULL DEFAULT '[]';
