-- Subscription requests from the web site (issue 5). The digest (issue 6) takes
-- them over: it confirms the address, sends, and moves `status` along.
-- IF NOT EXISTS: safe to run again if migrations are ever renumbered.
CREATE TABLE IF NOT EXISTS subscription_requests (
    id         INTEGER PRIMARY KEY,
    token      TEXT NOT NULL UNIQUE,              -- secret in the manage link (/subscriptions/manage?token=...)
    email      TEXT NOT NULL,
    follows    TEXT NOT NULL DEFAULT '{}',        -- JSON {"trending": [windows], "categories": [...], "searches": [...], "authors": [...]}
    frequency  TEXT NOT NULL DEFAULT 'daily',     -- daily | weekly
    status     TEXT NOT NULL DEFAULT 'requested', -- requested | unsubscribed (the digest adds confirmed, ...)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscription_requests_email ON subscription_requests (email);
