"""The web site and JSON API (``papertide serve``): pages, /api/v1, Atom feeds."""
