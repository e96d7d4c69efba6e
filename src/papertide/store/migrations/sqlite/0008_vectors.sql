-- Which paper was embedded by which embedder (name and version), from which text.
-- The vectors themselves live beside the store as plain float32 .npy files
-- (store/vectors.py); this table makes indexing incremental and resumable.
CREATE TABLE vectors_embedded (
    embedder   TEXT NOT NULL,
    pk         INTEGER NOT NULL REFERENCES papers (pk) ON DELETE CASCADE,
    changed_at TEXT NOT NULL,
    text_hash  TEXT NOT NULL,
    PRIMARY KEY (embedder, pk)
) WITHOUT ROWID;
