-- The web site's own subscription requests (migration 0006) were replaced by the digest's
-- double opt-in subscribers (migration 0007) before any release; nothing reads or writes
-- this table any more. A request left in it was never confirmed, so nothing is lost that
-- a user could have relied on: they subscribe again.
DROP INDEX IF EXISTS subscription_requests_email;
DROP TABLE IF EXISTS subscription_requests;
