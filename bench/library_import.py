"""How fast a BibTeX library is imported: ``papertide library import`` of 2,000 entries.

Target (issue 15): <= 5 s for a 2,000-entry file made from the shared arXiv data, with 10% of
the entries not in the store and 5% malformed; the malformed ones reported by line, the rest
imported. The file is written as Zotero exports one ("Surname, Given" authors, braces, eprint
and archivePrefix on most, a DOI-less title-only form on some). The papers not in the store
are Hugging Face daily papers missing from the arXiv file; a malformed entry has a brace left
open or no comma after its key.

The baseline, in the same run: bibtexparser reading the same file, the least any import spends.
Each is the median of ``--repeat`` runs (every import into a fresh person).

    .venv/bin/python bench/library_import.py [--db STORE] [--entries 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ARXIV = DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"
HF = DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"


def entry(n: int, title: str, authors: list[str], year: str, arxiv: str = "") -> str:
    names = " and ".join(f"{a.split()[-1]}, {' '.join(a.split()[:-1])}" for a in authors[:6] if a.split())
    ids = f"  eprint = {{{arxiv}}},\n  archivePrefix = {{arXiv}},\n" if arxiv else ""
    return f"@article{{key{n},\n  title = {{{title}}},\n  author = {{{names}}},\n  year = {{{year}}},\n{ids}}}\n"


def make_file(entries: int) -> tuple[str, int, int]:
    """The file's text, how many entries are not in the store, how many are malformed."""
    rng = random.Random(15)
    with gzip.open(ARXIV, "rt", encoding="utf-8") as source:
        stored = [json.loads(line) for line in source]
    known = {p["id"] for p in stored}
    with gzip.open(HF, "rt", encoding="utf-8") as source:
        outside = [p["paper"] for p in map(json.loads, source) if p["paper"]["id"] not in known][:entries]
    missing, broken = entries // 10, entries // 20
    texts = []
    for n, p in enumerate(rng.sample(stored, entries - missing - broken)):
        arxiv = p["id"] if n % 4 else ""  # a quarter matched by title alone
        texts.append(entry(n, p["title"], p["authors"], p["first_seen"][:4], arxiv))
    for n, p in enumerate(outside[:missing]):
        texts.append(entry(10_000 + n, p["title"], [a["name"] for a in p.get("authors", [])], "2025"))
    for n in range(broken):
        texts.append(f"@article{{bad{n},\n  title = {{Left open {n},\n  year = 2026\n}}\n" if n % 2 else
                     f"@article{{bad{n}\n  title = {{No comma after the key}},\n}}\n")
    rng.shuffle(texts)
    return "\n".join(texts), missing, broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a SQLite store holding the shared arXiv file (default: import it)")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import bibtexparser

    from papertide.app import library
    from papertide.store import open_store

    text, missing, broken = make_file(args.entries)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        if args.db:
            shutil.copy(args.db, db)
        else:
            papertide = str(Path(sys.executable).with_name("papertide"))
            subprocess.run([papertide, "--db", str(db), "import", str(ARXIV)], check=True, stdout=subprocess.DEVNULL)
        bib = Path(folder) / "library.bib"
        bib.write_text(text)
        store = open_store(str(db))
        ours, base, cli = [], [], []
        try:
            for n in range(args.repeat):
                person = store.ensure_person(f"bench{n}@bench.test", "2026-12-03T00:00:00Z")
                started = time.perf_counter()
                report = library.import_file(store, person.id, bib.read_bytes(), name=bib.name)
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                bibtexparser.parse_string(bib.read_text())
                base.append(time.perf_counter() - started)
        finally:
            store.close()
        papertide = str(Path(sys.executable).with_name("papertide"))
        for n in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([papertide, "--db", str(db), "library", "import", "--user", f"cli{n}@bench.test", str(bib)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cli.append(time.perf_counter() - started)
    print(f"{args.entries:,} entries: {missing} not in the store, {broken} malformed")
    print(f"report: matched {report.matched}, kept unmatched {report.unmatched}, malformed {len(report.malformed)} "
          f"(lines {', '.join(str(line) for line, _ in report.malformed[:5])}, ...)")
    print(f"import (library.import_file):    {statistics.median(ours):5.2f} s  (target <= 5 s)")
    print(f"papertide library import (CLI):  {statistics.median(cli):5.2f} s  (process start included)")
    print(f"baseline, bibtexparser parse:    {statistics.median(base):5.2f} s  "
          f"(import / baseline {statistics.median(ours) / statistics.median(base):.1f}x)")


if __name__ == "__main__":
    main()
