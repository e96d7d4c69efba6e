"""The attack suite: kill -9 at random points, hostile records in a real browser, and (beside it,
in tests/) fuzzed queries, records and API requests. Bounded here; `scripts/attack --long` runs
it at soak size (PAPERTIDE_ATTACK_LONG=1)."""

from __future__ import annotations

from test_web_browser import browser, page, server  # noqa: F401 (the browser fixtures, shared)
