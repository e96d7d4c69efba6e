"""Ranking: pure functions from plain data to (ids, scores) — search, trending."""
