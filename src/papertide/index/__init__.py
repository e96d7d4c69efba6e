"""Indexing: how text is analysed for search (query parsing today; embeddings next)."""
