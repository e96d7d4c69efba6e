-- Term statistics come from the in-memory keyword index (its terms and document counts),
-- which every sync brings up to date anyway; recounting this table from fts5vocab took
-- about half a second per 80k papers at the end of every sync.
DROP TABLE IF EXISTS term_docs;
