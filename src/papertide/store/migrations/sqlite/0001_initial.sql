-- Papers, their provenance, signals over time, sync checkpoints, keyword index.
CREATE TABLE papers (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,      -- arXiv id without version, or 'doi:...'
    version          INTEGER,
    title            TEXT NOT NULL,
    abstract         TEXT NOT NULL DEFAULT '',
    authors          TEXT NOT NULL DEFAULT '[]', -- JSON list, in paper order
    author_names     TEXT NOT NULL DEFAULT '',   -- the same names, one per line, for the index
    categories       TEXT NOT NULL DEFAULT '[]', -- JSON list
    primary_category TEXT NOT NULL DEFAULT '',
    published        TEXT NOT NULL DEFAULT '',   -- YYYY-MM-DD, earliest known
    updated          TEXT NOT NULL DEFAULT '',   -- YYYY-MM-DD, latest known
    doi              TEXT NOT NULL DEFAULT '',
    journal_ref      TEXT NOT NULL DEFAULT '',
    comment          TEXT NOT NULL DEFAULT '',
    links            TEXT NOT NULL DEFAULT '{}', -- JSON: abs, pdf, code [..], project
    keywords         TEXT NOT NULL DEFAULT '[]', -- JSON list
    meta_source      TEXT NOT NULL,              -- source whose metadata is authoritative
    added_at         TEXT NOT NULL,
    changed_at       TEXT NOT NULL
);
CREATE INDEX papers_published ON papers (published);
CREATE INDEX papers_added ON papers (added_at);

CREATE TABLE paper_categories (
    category TEXT NOT NULL,
    pk       INTEGER NOT NULL REFERENCES papers (pk) ON DELETE CASCADE,
    PRIMARY KEY (category, pk)
) WITHOUT ROWID;

CREATE TABLE provenance (
    pk         INTEGER NOT NULL REFERENCES papers (pk) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (pk, source)
) WITHOUT ROWID;

-- Observations over time; a new row only when the value changed.
CREATE TABLE signals (
    pk          INTEGER NOT NULL REFERENCES papers (pk) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    value       REAL NOT NULL,
    PRIMARY KEY (pk, kind, source, observed_at)
) WITHOUT ROWID;
CREATE INDEX signals_by_time ON signals (observed_at, kind);

CREATE TABLE checkpoints (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, abstract, author_names,
    content = 'papers', content_rowid = 'pk',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE papers_vocab USING fts5vocab (papers_fts, 'row');

CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
    INSERT INTO papers_fts (rowid, title, abstract, author_names)
    VALUES (new.pk, new.title, new.abstract, new.author_names);
END;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, abstract, author_names)
    VALUES ('delete', old.pk, old.title, old.abstract, old.author_names);
END;
CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract, author_names ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, abstract, author_names)
    VALUES ('delete', old.pk, old.title, old.abstract, old.author_names);
    INSERT INTO papers_fts (rowid, title, abstract, author_names)
    VALUES (new.pk, new.title, new.abstract, new.author_names);
END;
