"""Approximate (HNSW, hnswlib) against exact vector search on synthetic 384-d vectors.

    .venv/bin/python bench/ann.py [--n 1000000] [--queries 200] [--m 16] [--ef-construction 100]
    .venv/bin/python bench/ann.py --vectors /tmp/sem80k.db.vectors/st_all-MiniLM-L6-v2_cf0b5fc90c_256

With ``--vectors`` (a store's vector folder), real embeddings instead: ``--queries`` of them,
picked at random, are held out of the index and used as the queries.

The vectors are clustered and of low intrinsic dimension (see ``synthetic``), like
sentence embeddings; i.i.d. noise in 384 dimensions (a first try) gave recall@10 0.08-0.27 at
ef 32-256: its nearest neighbours are nearly equidistant, which no embedding model produces.
Prints build time, index size and peak memory, and for several ``ef`` the p50/p95
latency of one query and recall@10 against exact search (one matrix product).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from papertide.store import vectors


def synthetic(n: int, dim: int, seed: int, latent: int = 48) -> np.ndarray:
    """``n`` unit vectors with the structure of sentence embeddings, in blocks to bound memory.

    Points of 1,000 Gaussian clusters in a ``latent``-dimensional space, mapped linearly
    into ``dim`` dimensions, plus a little isotropic noise: real embeddings have a low
    intrinsic dimension (tens), unlike i.i.d. noise in 384 dimensions, whose nearest
    neighbours are nearly equidistant and which no model produces. The same centres and
    map are used for every seed (seed 0: the collection, seed 1: the queries)."""
    fixed = np.random.default_rng(12345)
    centres = fixed.normal(size=(1000, latent))
    lift = fixed.normal(size=(latent, dim)) / np.sqrt(latent)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        z = centres[rng.integers(0, 1000, stop - start)] + 0.5 * rng.normal(size=(stop - start, latent))
        block = z @ lift + 0.05 * rng.normal(size=(stop - start, dim))
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed(fn, queries: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    found, ms = [], []
    for q in queries:
        began = time.perf_counter()
        rows, _ = fn(q)
        ms.append((time.perf_counter() - began) * 1000)
        found.append(rows)
    return found, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vectors", type=Path, help="a store's vector folder: real embeddings instead")
    args = parser.parse_args()
    began = time.perf_counter()
    if args.vectors:
        stored = vectors.read(args.vectors)
        if stored is None:
            raise SystemExit(f"no vectors in {args.vectors}")
        held_out = np.random.default_rng(0).choice(len(stored.matrix), args.queries, replace=False)
        keep = np.ones(len(stored.matrix), dtype=bool)
        keep[held_out] = False
        data, queries = np.ascontiguousarray(stored.matrix[keep]), stored.matrix[held_out]
        print(f"{len(data):,} x {data.shape[1]} stored vectors from {args.vectors.name} "
              f"({data.nbytes / 2**20:.0f} MiB), {args.queries} held out as queries")
    else:
        data = synthetic(args.n, args.dim, 0)
        queries = synthetic(args.queries, args.dim, 1)
        print(f"{args.n:,} x {args.dim} float32 vectors ({data.nbytes / 2**20:.0f} MiB) made in "
              f"{time.perf_counter() - began:.1f} s")
    exact, exact_ms = timed(lambda q: vectors.exact_top(data, q, 10), queries)
    print(f"exact (numpy, one query): p50 {np.percentile(exact_ms, 50):.1f} ms, "
          f"p95 {np.percentile(exact_ms, 95):.1f} ms")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        index = vectors.build_ann(Path(folder), data, m=args.m, ef_construction=args.ef_construction,
                                  threads=args.threads)
        build = time.perf_counter() - began
        size = os.path.getsize(Path(folder) / vectors.HNSW_FILE)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"hnswlib M={args.m} ef_construction={args.ef_construction} threads={args.threads}: "
          f"build {build:.0f} s, index file {size / 2**20:.0f} MiB, "
          f"peak RSS +{(rss_after - rss_before) / 1024:.0f} MiB (total {rss_after / 1024:.0f} MiB)")
    index.set_num_threads(1)
    print("| ef | p50 ms | p95 ms | recall@10 |\n|---|---|---|---|")
    for ef in (32, 64, 128, 256):
        approx, ms = timed(lambda q: vectors.ann_top(index, q, 10, ef), queries)
        recall = np.mean([len(set(a.tolist()) & set(e.tolist())) / 10 for a, e in zip(approx, exact)])
        print(f"| {ef} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 95):.2f} | {recall:.3f} |")


if __name__ == "__main__":
    main()
