"""Scratch files: written under a name ending in ``.tmp<pid>``, renamed into place when whole.
What a killed process left behind is swept by the next run (pure file handling, no layer)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_SCRATCH = re.compile(r"\.tmp(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep(folder: Path) -> int:
    """Remove the scratch files and folders in ``folder`` whose writing process is gone;
    how many were removed."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        found = _SCRATCH.search(entry.name)
        if found is None or _alive(int(found.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed
