"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

# ---------------------------------------------------------------------------
# Connectors: shared real data and the local replay HTTP server
# (tests/test_source_*.py). Other fixtures go in their own section below.
# ---------------------------------------------------------------------------
from replay import ReplayServer

# The read-only real data lives beside the checkout: ../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = SHARED_DATA / "fixtures"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A replay server on 127.0.0.1 (random port), closed after the test."""
    server = ReplayServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sleeps() -> list[float]:
    """Collects the waits a source asks for; pass ``sleeps.append`` as its ``sleep``."""
    return []

# --- end of connector fixtures ----------------------------------------------
