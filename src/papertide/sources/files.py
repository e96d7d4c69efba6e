"""The ``files`` source: JSONL files of arXiv records or raw Hugging Face daily items.

Plain or gzip, detected by magic bytes; the record format is detected per line
(an object with a ``paper`` object is a Hugging Face item). Streams: a file is
never loaded whole. The checkpoint is the number of the last stored line, so an
interrupted import resumes after it.

Pages are parsed when the caller asks for them, in its thread. A gzip file is
decompressed by a thread of its own, a few blocks ahead: zlib lets go of the GIL while
it works, so that runs on another core. (A thread that also parsed made imports
slower: parsing holds the GIL, and SQLite must take it back for every row it stores.)
"""

from __future__ import annotations

import gzip
import io
import json
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from papertide.errors import InvalidRecord, SourceUnavailable
from papertide.model import PaperRecord, make_record, split_arxiv_id
from papertide.settings import Settings
from papertide.sources import hf_daily
from papertide.sources.base import Page, SyncRequest
from papertide.sources.links import find_code_links


def parse_arxiv_line(obj: Any, *, max_abstract_chars: int = 20000) -> PaperRecord:
    """One arXiv JSONL object (the shared-data format) -> a record."""
    if not isinstance(obj, dict):
        raise InvalidRecord("line is not a JSON object")
    if not isinstance(obj.get("id"), str):
        raise InvalidRecord("record has no id")
    paper_id, version = split_arxiv_id(obj["id"])
    abstract, comment = obj.get("abstract"), obj.get("comment")
    links = {"abs": obj.get("abs_url") or f"https://arxiv.org/abs/{paper_id}",
             "pdf": obj.get("pdf_url") or f"https://arxiv.org/pdf/{paper_id}",
             "code": find_code_links(comment, abstract)}
    return make_record(
        id=paper_id, version=version, source="file:arxiv", title=obj.get("title"), abstract=abstract,
        authors=obj.get("authors"), categories=obj.get("categories"),
        primary_category=obj.get("primary_category"),
        published=obj.get("published") or obj.get("first_seen"), updated=obj.get("updated"),
        doi=obj.get("doi"), journal_ref=obj.get("journal_ref"), comment=comment, links=links,
        max_abstract_chars=max_abstract_chars,
    )


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def _open(path: Path) -> io.BufferedIOBase:
    """The file to read whole (a saved JSON array), gzip or not; ``_lines`` streams one."""
    return gzip.GzipFile(path, "rb") if _is_gzip(path) else path.open("rb")  # type: ignore[return-value]


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines (without their line breaks); gzip is decompressed by a thread."""
    if not _is_gzip(path):
        with path.open("rb", buffering=1 << 20) as handle:
            yield from (line.rstrip(b"\n") for line in handle)
        return
    rest = b""
    for block in _gunzipped_blocks(path):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


_BLOCK = 1 << 18  # compressed bytes read at a time
_AHEAD = 4  # decompressed blocks waiting for the reader, at most


def _gunzipped_blocks(path: Path) -> Iterator[bytes]:
    """The decompressed content of a gzip file (all its members), made by a thread a few
    blocks ahead; its errors are raised here, as ``gzip`` would raise them."""
    blocks: queue.Queue = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()

    def put(item: object) -> None:
        if not stop.is_set():
            blocks.put(item)

    def gunzip() -> None:
        try:
            for block in _inflate(path, stop):
                put(block)
            put(None)
        except zlib.error as exc:
            put(gzip.BadGzipFile(f"corrupt gzip data ({exc})"))
        except (OSError, EOFError) as exc:
            put(exc)

    worker = threading.Thread(target=gunzip, name="papertide-gunzip", daemon=True)
    worker.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a put() that was waiting for room
            _drain(blocks)
            worker.join(0.05)


def _inflate(path: Path, stop: threading.Event) -> Iterable[bytes]:
    inflater, started = zlib.decompressobj(wbits=31), False  # 31: gzip header and trailer
    with path.open("rb") as raw:
        while not stop.is_set() and (chunk := raw.read(_BLOCK)):
            while chunk:
                started = True
                if out := inflater.decompress(chunk):
                    yield out
                if not inflater.eof:
                    break
                chunk = inflater.unused_data  # another member follows, or zero padding
                inflater, started = zlib.decompressobj(wbits=31), False
                if not chunk.strip(b"\0"):
                    break
    if started and not inflater.eof and not stop.is_set():
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def _drain(blocks: queue.Queue) -> None:
    try:
        while True:
            blocks.get_nowait()
    except queue.Empty:
        pass


class FilesSource:
    """Import JSONL (optionally gzipped) files from any path."""

    name = "files"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        for raw_path in request.paths:
            path = Path(raw_path).expanduser()
            if not path.exists():
                raise SourceUnavailable(f"no such file: {raw_path}")
            if not path.is_file():
                raise SourceUnavailable(f"not a regular file (a folder, a named pipe or a device): {raw_path}")
            yield from self._file_pages(path, checkpoints)

    def _file_pages(self, path: Path, checkpoints: dict[str, dict]) -> Iterator[Page]:
        stat = path.stat()
        key = f"files:{path.resolve()}"
        saved = checkpoints.get(key, {})
        # A changed file (size or mtime) is read again from the start.
        same_file = saved.get("size") == stat.st_size and saved.get("mtime") == stat.st_mtime
        line_no = saved.get("line", 0) if same_file else 0
        if same_file and saved.get("done"):
            return
        stamp = {"size": stat.st_size, "mtime": stat.st_mtime}
        try:
            array = _is_json_array(path)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceUnavailable(f"cannot read {path.name}: {exc}") from None
        if array:
            yield self._array_page(path, key, stamp)
        else:
            yield from self._line_pages(path, key, stamp, line_no)

    def _line_pages(self, path: Path, key: str, stamp: dict, line_no: int) -> Iterator[Page]:
        """Pages of ``batch_size`` lines after line ``line_no``; the last one is marked done."""
        page = Page(checkpoint_key=key)
        batch = self.settings.batch_size
        number = line_no
        try:
            for number, line in enumerate(_lines(path), 1):
                if number <= line_no:
                    continue
                self._parse_line(line, number, path.name, page)
                if page.fetched >= batch:
                    page.checkpoint = {**stamp, "line": number, "done": False}
                    yield page
                    page = Page(checkpoint_key=key)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            # A damaged or cut-short file: store every whole line before the damage, then say so.
            # The checkpoint stays before the damage, so a rerun of a repaired file goes on from it.
            page.checkpoint = {**stamp, "line": max(number, line_no), "done": False}
            yield page
            raise SourceUnavailable(f"cannot read {path.name} past line {max(number, line_no):,} ({exc}); "
                                    "the lines before it are stored") from None
        page.checkpoint = {**stamp, "line": number if page.fetched else line_no, "done": True}
        yield page

    def _array_page(self, path: Path, key: str, stamp: dict) -> Page:
        """A whole saved daily-papers response: small, so read at once."""
        page = Page(checkpoint_key=key, checkpoint={**stamp, "line": 0, "done": True})
        try:
            with _open(path) as handle:
                data = handle.read()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceUnavailable(f"cannot read {path.name}: {exc}") from None
        items, damage = _array_items(data)
        for number, item in enumerate(items, 1):
            self._parse_line(orjson.dumps(item), number, path.name, page)
        if damage:
            page.skipped.append((f"{path.name}:{len(items) + 1}", damage))
            page.fetched += 1
        return page

    def _parse_line(self, line: bytes, number: int, name: str, page: Page) -> None:
        if not line.strip():
            return
        page.fetched += 1
        where = f"{name}:{number}"
        limit = self.settings.max_abstract_chars
        try:
            obj = orjson.loads(line)
            if isinstance(obj, dict) and "paper" in obj:
                observed = obj.get("_listing_date") or obj.get("publishedAt")
                record = hf_daily.parse_item(obj, source="file:hf", max_abstract_chars=limit,
                                             observed_at=_observed_at(observed, name))
            else:
                record = parse_arxiv_line(obj, max_abstract_chars=limit)
        except orjson.JSONDecodeError:  # also invalid UTF-8; a ValueError
            page.skipped.append((where, "not valid JSON"))
            return
        except InvalidRecord as exc:
            page.skipped.append((where, str(exc)))
            return
        page.records.append(record)


def _array_items(data: bytes) -> tuple[list[Any], str]:
    """The items of a JSON array, and what is wrong with the rest ('' if nothing): a file cut
    short or damaged keeps every whole item before the damage."""
    try:
        items = orjson.loads(data)
        return (items, "") if isinstance(items, list) else ([], "not a JSON array")
    except orjson.JSONDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    decoder, items = json.JSONDecoder(), []
    at = text.index("[") + 1
    while True:
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        if at < len(text) and text[at] == "]":
            return items, "not valid JSON after the array"
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError:
            return items, f"the array is cut short or damaged after item {len(items):,}"
        items.append(item)


def _is_json_array(path: Path) -> bool:
    """A saved API response (a JSON array) rather than JSON lines."""
    with _open(path) as handle:
        return handle.read(64).lstrip()[:1] == b"["


def _observed_at(listing_date: Any, name: str) -> str:
    """When a file's signal values were seen: its item's listing day (the best a file tells)."""
    if isinstance(listing_date, str) and len(listing_date) >= 10:
        return listing_date[:10] + "T00:00:00+00:00"
    raise InvalidRecord("item has no listing date for its signals")
