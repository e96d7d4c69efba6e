"""A secret in a file of its own: created once, exclusively, readable by its owner only."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from papertide.errors import StoreError


def read_or_create(path: Path) -> str:
    """The secret in ``path``; a new random one if the file does not exist yet. Every process
    of a site must sign with the same key, so the first creates the file and the others read it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise StoreError(f"cannot create the secret key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    return _read(path)


def _read(path: Path) -> str:
    for _ in range(50):  # another process may be writing it right now
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise StoreError(f"the secret key file {path} is empty; delete it to make a new one")
