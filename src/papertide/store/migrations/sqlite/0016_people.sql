-- People (issue 15): accounts signed in by mailed links, their libraries, feedback and
-- recommendations. A person is known by address, like the digest's subscriber: one person.
CREATE TABLE people (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,          -- lower-cased address
    created_at      TEXT NOT NULL,
    signin_nonce    TEXT NOT NULL DEFAULT '',      -- the one sign-in link that works; spent when used
    signin_sent_at  TEXT,
    feed_token      TEXT NOT NULL UNIQUE,          -- secret part of the feed URL; a new one revokes the old
    recs_stale      INTEGER NOT NULL DEFAULT 1,    -- library or feedback changed since the last scoring
    recs_seq        INTEGER NOT NULL DEFAULT 0,    -- papers up to this seq have been scored
    recs_at         TEXT
);

CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,              -- sha256 of the cookie; the cookie itself is never stored
    person_id       INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);
CREATE INDEX sessions_person ON sessions (person_id);

CREATE TABLE library (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    paper_id        TEXT,                          -- a stored paper; NULL for an imported entry not in the store
    title           TEXT NOT NULL,
    abstract        TEXT NOT NULL DEFAULT '',
    authors         TEXT NOT NULL DEFAULT '[]',
    year            TEXT NOT NULL DEFAULT '',
    doi             TEXT NOT NULL DEFAULT '',
    arxiv_id        TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    note            TEXT NOT NULL DEFAULT '',
    added_at        TEXT NOT NULL,
    UNIQUE (person_id, paper_id)
);
CREATE INDEX library_paper ON library (paper_id);

CREATE TABLE feedback (
    person_id       INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    paper_id        TEXT NOT NULL,
    value           INTEGER NOT NULL CHECK (value IN (-1, 1)),
    at              TEXT NOT NULL,
    PRIMARY KEY (person_id, paper_id)
);

CREATE TABLE recommendations (
    person_id       INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    paper_id        TEXT NOT NULL,
    score           REAL NOT NULL,
    reason          TEXT NOT NULL DEFAULT '{}',    -- JSON: close_to (titles), terms, author
    computed_at     TEXT NOT NULL,
    PRIMARY KEY (person_id, paper_id)
);
CREATE INDEX recommendations_best ON recommendations (person_id, score DESC);
