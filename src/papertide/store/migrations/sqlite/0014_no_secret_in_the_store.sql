-- The link-signing key moves out of the database into a file of its own beside it (0600,
-- store/secret_file.py), shared by the web site and the digest: anyone who could read the
-- database could forge manage links. Links signed with the old key stop working.
DELETE FROM digest_meta WHERE key = 'secret';
