"""The keyword index on disk, beside the SQLite file: ``<db>.kw/``.

Plain files: one ``.npy`` per array and JSON for the rest, all named after one
build token, plus ``meta.json`` naming the current token. A build writes its
files first and then replaces ``meta.json`` (atomic rename), so a reader always
sees one whole index; the previous build's files are removed afterwards (a
reader that already mapped them keeps them until it lets go).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson

from papertide.index.analyze import Analyzer
from papertide.index.bm25 import BM25Params, TermMatrix
from papertide.index.keyword_index import KeywordIndex
from papertide.index.phrases import PhraseIndex

log = logging.getLogger(__name__)

FORMAT = 2  # 2: phrase postings
_ARRAYS = ("indptr", "docs", "weights", "pks", "published", "category_ptr", "category_rows")
_PHRASE_ARRAYS = ("phrase_keys", "phrase_buckets", "phrase_indptr", "phrase_docs")


def folder_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".kw")


def save(index: KeywordIndex, folder: Path) -> None:
    """Write the index atomically; raises OSError if the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    arrays = {"indptr": index.matrix.indptr, "docs": index.matrix.docs, "weights": index.matrix.weights,
              "pks": index.pks, "published": index.published, "category_ptr": index.category_ptr,
              "category_rows": index.category_rows}
    if index.phrases is not None:
        arrays |= {"phrase_keys": index.phrases.keys, "phrase_buckets": index.phrases.bucket_ptr,
                   "phrase_indptr": index.phrases.indptr, "phrase_docs": index.phrases.docs}
    terms = sorted(index.vocabulary, key=index.vocabulary.__getitem__)
    writes = [(_save_array, folder / f"{token}.{name}.npy", np.ascontiguousarray(array))
              for name, array in arrays.items()]
    writes += [(_write_json, folder / f"{token}.terms.json", terms), (_write_json, folder / f"{token}.ids.json", index.ids)]
    # Two at a time: writing a file lets go of the GIL, and the largest arrays are 40 MB each.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="papertide-save") as pool:
        for done in [pool.submit(write, path, value) for write, path, value in writes]:
            done.result()  # raises what a write raised
    previous = _read_meta(folder)
    meta = {"format": FORMAT, "token": token, "signature": index.signature,
            "params": index.params.as_dict(), "categories": index.categories,
            "papers": index.n_docs, "terms": len(terms), "postings": len(index.matrix.docs),
            "phrases": index.phrases is not None}
    tmp = folder / f"meta.json.{token}.tmp"
    _write_json(tmp, meta)
    os.replace(tmp, folder / "meta.json")
    _remove_old(folder, keep=token, previous=str((previous or {}).get("token")))


def load(folder: Path, signature: dict, params: BM25Params) -> KeywordIndex | None:
    """The saved index if it describes this state of the store with these parameters, else None."""
    meta = _read_meta(folder)
    if (not meta or meta.get("format") != FORMAT or meta.get("signature") != signature
            or meta.get("params") != params.as_dict()):
        return None
    token = meta["token"]
    try:
        names = _ARRAYS + _PHRASE_ARRAYS if meta.get("phrases") else _ARRAYS
        arrays = {name: np.load(folder / f"{token}.{name}.npy", mmap_mode="r", allow_pickle=False)
                  for name in names}
        terms = orjson.loads((folder / f"{token}.terms.json").read_bytes())
        ids = orjson.loads((folder / f"{token}.ids.json").read_bytes())
    except (OSError, ValueError) as exc:  # replaced or damaged under us: rebuild instead
        log.warning("keyword index in %s unreadable (%s); rebuilding", folder, exc)
        return None
    matrix = TermMatrix(indptr=arrays["indptr"], docs=arrays["docs"], weights=arrays["weights"],
                        n_docs=len(arrays["pks"]))
    phrases = PhraseIndex(keys=arrays["phrase_keys"], bucket_ptr=arrays["phrase_buckets"],
                          indptr=arrays["phrase_indptr"], docs=arrays["phrase_docs"]) if meta.get("phrases") else None
    return KeywordIndex(vocabulary={t: i for i, t in enumerate(terms)}, matrix=matrix, pks=arrays["pks"],
                        ids=ids, published=arrays["published"], categories=meta["categories"],
                        category_ptr=arrays["category_ptr"], category_rows=arrays["category_rows"],
                        params=params, signature=signature, analyzer=Analyzer(), phrases=phrases)


def size_bytes(folder: Path) -> int:
    """Bytes of the current index's files (0 when there is none)."""
    meta = _read_meta(folder)
    if not meta:
        return 0
    return sum(p.stat().st_size for p in folder.glob(f"{meta['token']}.*"))


def _read_meta(folder: Path) -> dict | None:
    try:
        meta = orjson.loads((folder / "meta.json").read_bytes())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _save_array(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


def _write_json(path: Path, value: object) -> None:
    path.write_bytes(orjson.dumps(value))  # compact UTF-8, as json.dump with ensure_ascii=False


def _remove_old(folder: Path, keep: str, previous: str) -> None:
    """Remove the previous build's files, and any other build's left for an hour (a crashed
    build; a concurrent one's files are younger than that)."""
    now = time.time()
    for path in folder.iterdir():
        token = path.name.split(".", 1)[0]
        if token in (keep, "meta"):
            continue
        try:
            if token == previous or now - path.stat().st_mtime > 3600:
                path.unlink()
        except OSError as exc:
            log.debug("could not remove old keyword index file %s: %s", path, exc)
