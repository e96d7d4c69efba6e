-- Digest subscribers and the outbox of messages (issue 6).
CREATE TABLE digest_subscribers (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,          -- lower-cased address
    status          TEXT NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'confirmed', 'unsubscribed', 'bounced')),
    follows         TEXT NOT NULL DEFAULT '{}',    -- JSON: what the confirmed subscription follows
    frequency       TEXT NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily', 'weekly')),
    hour            INTEGER NOT NULL DEFAULT 7,
    tz              TEXT NOT NULL DEFAULT 'UTC',
    max_papers      INTEGER NOT NULL DEFAULT 20,
    pending         TEXT,                          -- JSON: a requested change awaiting confirmation
    nonce           TEXT NOT NULL DEFAULT '',      -- changes with every request; old confirm links die
    created_at      TEXT NOT NULL,
    requested_at    TEXT NOT NULL,
    confirmed_at    TEXT,
    unsubscribed_at TEXT,
    last_period     TEXT,                          -- period of the last digest queued ('2026-03-18', '2026-W12')
    last_watermark  INTEGER,                       -- papers up to this one were covered by that digest
    last_queued_at  TEXT,                          -- when that digest was composed and queued
    last_sent_at    TEXT,
    last_error      TEXT
);
CREATE INDEX digest_subscribers_status ON digest_subscribers (status);

CREATE TABLE digest_outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,          -- 'digest:<subscriber>:<period>' or 'confirm:<subscriber>:<nonce>'
    kind            TEXT NOT NULL CHECK (kind IN ('digest', 'confirm')),
    subscriber_id   INTEGER NOT NULL REFERENCES digest_subscribers (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    period          TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'bounced', 'skipped', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    papers          TEXT NOT NULL DEFAULT '[]',    -- JSON list of paper ids in the digest
    watermark_lo    INTEGER,
    watermark_hi    INTEGER,
    mime            BLOB,                          -- zlib-compressed message, resent byte for byte
    created_at      TEXT NOT NULL,
    claimed_at      TEXT,
    sent_at         TEXT
);
CREATE INDEX digest_outbox_due ON digest_outbox (status, next_attempt_at);
CREATE INDEX digest_outbox_subscriber ON digest_outbox (subscriber_id, created_at);

CREATE TABLE digest_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
