"""Property test over import records: whatever a line holds, an import stores it or skips it with
a reason, never fails, and keeps the store and its keyword index consistent."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertide.app.sync import run_sync
from papertide.settings import Settings
from papertide.sources.base import SyncRequest
from papertide.sources.files import FilesSource
from papertide.store import open_store

EXAMPLES = 400 if os.environ.get("PAPERTIDE_ATTACK_LONG") == "1" else 40
HOSTILE = st.sampled_from(["", " ", "<script>alert(1)</script>", "javascript:alert(1)", "$\\alpha$", "\x00",
                           "\u202e", "🙂" * 50, "a" * 5000, "2025-13-40", "NaN", "\\", '"', "{", "[]"])
VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                               st.text(max_size=200), HOSTILE),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=3), max_leaves=8)
FIELDS = ["id", "title", "abstract", "authors", "categories", "primary_category", "first_seen", "abs_url",
          "pdf_url", "comment", "doi", "updated"]
RECORD = st.fixed_dictionaries({"id": st.from_regex(r"25\d\d\.\d{5}(v\d)?", fullmatch=True) | VALUE},
                               optional={name: VALUE | HOSTILE for name in FIELDS[1:]})
HF_ITEM = st.fixed_dictionaries({"paper": st.dictionaries(st.sampled_from(["id", "title", "summary", "authors",
                                                                          "upvotes", "githubRepo", "projectPage"]),
                                                         VALUE, max_size=7),
                                 "_listing_date": st.sampled_from(["2026-01-01", "", "x"]) | VALUE})


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(RECORD | HF_ITEM | VALUE, min_size=1, max_size=12))
def test_any_line_is_stored_or_skipped_with_a_reason(lines: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data, db = Path(folder) / "fuzz.jsonl", Path(folder) / "fuzz.db"
        first = {"id": "2501.00001", "title": "A paper"}  # a file opening with '[' is a saved JSON array
        data.write_text("".join(json.dumps(line) + "\n" for line in [first, *lines]) + "{not json\n")
        store = open_store(str(db))
        try:
            report = run_sync(FilesSource(Settings({"db": str(db), "batch_size": 5}, environ={})),
                              SyncRequest(paths=[str(data)]), store)
            assert report.fetched == len(lines) + 2
            assert report.new + report.updated + report.unchanged + report.skipped_total == report.fetched
            assert report.skipped_total >= 1  # the broken line at least
            for paper in store.get_many(r[0] for r in store.db.execute("SELECT id FROM papers")).values():
                assert all(url.startswith(("http://", "https://"))
                           for value in paper.links.values() for url in (value if isinstance(value, list) else [value]))
            assert store.reindex_keyword() == store.count()
        finally:
            store.close()
