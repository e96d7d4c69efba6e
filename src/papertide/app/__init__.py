"""Orchestration: sync, reindex, search, trending, similar papers, embedding. Each function joins
sources, the store, the index and pure ranking; the web site, the digest and the CLI call these."""
