-- Trending (issue 4): a covering index for window aggregates over signals, and
-- the conditional-request state of every GitHub repository papertide has asked about.
-- IF NOT EXISTS: safe to run again if migrations are ever renumbered.

-- Trending reads every observation of a time window with its paper, kind, source
-- and value; with all of them in the index it never touches the table.
CREATE INDEX IF NOT EXISTS signals_window ON signals (observed_at, pk, kind, source, value);
-- ... and the id and published day of each paper it ranks, without reading the wide papers rows.
CREATE INDEX IF NOT EXISTS papers_trending ON papers (pk, published, id);

CREATE TABLE IF NOT EXISTS github_repos (
    repo       TEXT PRIMARY KEY COLLATE NOCASE,  -- owner/name, as GitHub spells it in the link
    etag       TEXT NOT NULL DEFAULT '',         -- sent back as If-None-Match
    stars      INTEGER,                          -- last stargazers_count seen; NULL if never seen
    status     TEXT NOT NULL,                    -- ok | missing (404/410: deleted or private) | blocked (403/451)
    checked_at TEXT NOT NULL                     -- ISO 8601 UTC of the last answer
) WITHOUT ROWID;
