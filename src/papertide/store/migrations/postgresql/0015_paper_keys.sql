-- Other names of a paper: its DOIs (a preprint's and its journal version's), the ids of
-- records merged into it ('pmid:123'), and a key of its title and first author. A record
-- arriving under any of these is merged into that paper (store/sql_papers.py). Only looked up
-- by key: one B-tree, no index by pk (papers are never deleted).
CREATE TABLE paper_keys (
    key TEXT COLLATE "C" PRIMARY KEY,
    pk  BIGINT NOT NULL REFERENCES papers (pk) ON DELETE CASCADE
);
INSERT INTO paper_keys (key, pk) SELECT 'doi:' || lower(trim(doi)), pk FROM papers WHERE doi != ''
    ON CONFLICT DO NOTHING;

-- The authors' affiliations, where a source gives them (PubMed).
ALTER TABLE papers ADD COLUMN affiliations TEXT NOT NULL DEFAULT '[]';
