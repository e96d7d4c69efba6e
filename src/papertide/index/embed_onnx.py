"""The query model exported to ONNX: search queries embedded by onnxruntime, without torch.

``papertide index`` has the sentence-transformers model loaded anyway; after a run it exports
the query model (``SentenceTransformerEmbedder.model``) once into ``models_dir/onnx/<id>/``:

- ``model.onnx``: the transformer; inputs named as its tokenizer names them, output
  ``last_hidden_state``;
- ``tokenizer.json``: its fast tokenizer;
- ``model.int8.onnx``: the same with its weights quantized to 8 bits (per output channel,
  onnxruntime's dynamic quantization): 2-2.5x faster and a quarter of the memory, vectors within
  cosine 0.98-0.99 of torch's (measured effect on search quality: docs/semantic.md);
- ``meta.json``: the torch embedder's vector key, name and dimension, the pooling (mean or CLS),
  the maximum length, the input names.

``<id>`` digests what decides the query vectors and the papers' vector key (both models and
their versions, the document prefix, the maximum length), so a search process finds the export
from its settings alone, without torch (:func:`find_query_encoder`), and changing any of them
selects another one. The query prefix is not part of it: it is put before the text in Python,
as with torch.

An export is checked before it is kept: onnxruntime must give the torch model's vectors (cosine
at least :data:`MIN_COSINE`) for one query and for a padded batch, else nothing is kept and
searches keep using torch. Only Transformer + Pooling (mean or CLS) [+ Normalize] pipelines are
exported. Figures (about 8 ms and 220 MB per process instead of 18 ms and 550 MB): docs/semantic.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from papertide import scratch
from papertide.errors import EmbedderError
from papertide.index.embed import (_DEFAULT_ALIASES, DEFAULT_MODEL, STATIC, EmbedderSpec, _vector_tag, key_prefix,
                                   model_version, recipe_of)

if TYPE_CHECKING:
    import numpy as np

    from papertide.index.embed import SentenceTransformerEmbedder

log = logging.getLogger(__name__)

FORMAT = 2            # part of every id: bump it when exports change, and older ones are no longer found
MIN_COSINE = 0.9999   # an export whose vectors differ more than this from torch's is not kept
MIN_COSINE_INT8 = 0.98  # the same for the 8-bit model (MiniLM: 0.987 at worst over 200 dev queries)
INT8_FILE = "model.int8.onnx"
POOLINGS = ("mean", "cls")
_ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
_META_FIELDS = {"key": str, "name": str, "dim": int, "query_model": str, "document_model": str,
                "document_prefix": str, "pooling": str, "max_seq_length": int, "input_names": list,
                "lowercase": bool, "pad_id": int, "pad_token": str, "pad_type_id": int, "model_bytes": int,
                "int8_bytes": int}
_LONG = ("Interactive segmentation of volumetric CT scans from a few clicks, trained on many organs and "
         "lesions, evaluated against fully automatic baselines on public benchmarks. ") * 20
_CHECK_TEXTS = ("few-click 3D CT segmentation", "bees", _LONG,
                "a recipe for lemon cake", "Large language models as zero-shot rankers for scientific papers")


def query_encoder_id(spec: EmbedderSpec, max_seq_length: int | None) -> str:
    """The folder name of the export for these settings (``embed_max_tokens`` is ``max_seq_length``;
    0 or None: the model's own)."""
    def model(name: str) -> str:
        return f"{DEFAULT_MODEL if name in _DEFAULT_ALIASES else name}@{model_version(name)}"

    parts = (f"format={FORMAT}", f"query={model(spec.model)};pool={recipe_of(spec.model).pooling}",
             f"papers={model(spec.papers_model)}{_vector_tag(spec)}",
             f"document-prefix={spec.document_prefix}", f"max-tokens={max_seq_length or 0}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _read_meta(folder: Path) -> dict[str, Any] | None:
    """meta.json of a complete export of this format, else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        size = (folder / "model.onnx").stat().st_size
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not (folder / "tokenizer.json").is_file():
        return None
    if any(not isinstance(meta.get(name), kind) for name, kind in _META_FIELDS.items()):
        return None
    if meta["int8_bytes"] and _size(folder / INT8_FILE) != meta["int8_bytes"]:
        return None
    return meta if meta["model_bytes"] == size else None  # a cut or replaced model file


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def find_query_encoder(spec: EmbedderSpec, models_dir: Path, max_seq_length: int | None) -> Path | None:
    """The folder of a complete export for these settings, or None (imports no torch)."""
    if spec.model == STATIC:
        return None
    folder = Path(models_dir).expanduser() / "onnx" / query_encoder_id(spec, max_seq_length)
    return folder if _read_meta(folder) is not None else None


def load_query_encoder(spec: EmbedderSpec, models_dir: Path, max_seq_length: int | None, *,
                       threads: int = 1, int8: bool = False) -> "OnnxQueryEmbedder | None":
    """The export for these settings, loaded; None (the caller uses torch) when there is none,
    onnxruntime is not installed, or it does not load (then with a warning)."""
    folder = find_query_encoder(spec, models_dir, max_seq_length)
    if folder is None:
        log.debug("no query encoder export for %s: queries are embedded with torch", spec.model)
        return None
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        log.debug("onnxruntime is not installed: queries are embedded with torch")
        return None
    try:
        return OnnxQueryEmbedder(folder, spec, threads=threads, int8=int8)
    except EmbedderError as exc:
        log.warning("%s; queries are embedded with torch", exc)
        return None


class OnnxQueryEmbedder:
    """An exported query model run by onnxruntime: the torch embedder's vectors and key, without
    torch. Embeds papers too when the query model is also the papers' model."""

    def __init__(self, folder: Path, spec: EmbedderSpec | None = None, *, threads: int = 1,
                 int8: bool = False) -> None:
        meta = _read_meta(folder)
        if meta is None:
            raise EmbedderError(f"no complete query encoder export in {folder}")
        self.folder = folder
        self.spec = spec or EmbedderSpec(meta["query_model"], meta["document_model"],
                                         document_prefix=meta["document_prefix"])
        self.key, self.name, self.dim = meta["key"], meta["name"], meta["dim"]
        if not self.key.startswith(key_prefix(self.spec)) or meta["pooling"] not in POOLINGS:
            raise EmbedderError(f"the query encoder export in {folder} ({self.key}) does not fit "
                                f"{key_prefix(self.spec)}")
        self.pooling, self.lowercase = meta["pooling"], meta["lowercase"]
        self.input_names: list[str] = meta["input_names"]
        self.max_seq_length: int = meta["max_seq_length"]
        # The 8-bit model (when asked for and made) embeds queries only: papers' vectors stay exact.
        self.int8 = bool(int8 and meta["int8_bytes"])
        self.session, self.tokenizer = _open(folder, meta, threads, INT8_FILE if self.int8 else "model.onnx")

    def encode_queries(self, texts: Sequence[str]) -> "np.ndarray":
        return self._embed([self.spec.query_prefix + t for t in texts], 32)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> "np.ndarray":
        if self.int8:
            raise EmbedderError("the 8-bit query encoder embeds queries only; papers need the exact model")
        if self.spec.document_model:
            raise EmbedderError(f"papers are embedded by {self.spec.document_model}, which needs the full "
                                "model (load_embedder without queries_only)")
        return self._embed([self.spec.document_prefix + t for t in texts], batch_size)

    def _embed(self, texts: list[str], batch_size: int) -> "np.ndarray":
        import numpy as np

        if self.lowercase:
            texts = [t.lower() for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # like lengths share a batch: less padding
        for start in range(0, len(order), max(batch_size, 1)):
            rows = order[start:start + max(batch_size, 1)]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def _batch(self, texts: list[str]) -> "np.ndarray":
        """Unit vectors of a few texts: tokens (padded to the longest), the model, pooling."""
        import numpy as np

        encodings = [self.tokenizer.encode(texts[0])] if len(texts) == 1 else self.tokenizer.encode_batch(texts)
        feeds = {name: np.array([getattr(e, _ENCODING_FIELDS[name]) for e in encodings], dtype=np.int64)
                 for name in self.input_names}
        hidden = self.session.run(["last_hidden_state"], feeds)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)[..., None]
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def _open(folder: Path, meta: dict[str, Any], threads: int, model: str = "model.onnx") -> tuple[Any, Any]:
    """The onnxruntime session and the tokenizer of an export."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(threads, 0)  # 0: onnxruntime's default, every core
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Waiting threads sleep rather than spin: spinning ones made queries slower under load (docs/semantic.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(folder / model), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # onnxruntime's and tokenizers' errors derive from Exception only
        raise EmbedderError(f"cannot load the query encoder in {folder}: {exc}") from None
    if sorted(i.name for i in session.get_inputs()) != sorted(meta["input_names"]):
        raise EmbedderError(f"the query encoder in {folder} does not take the inputs its meta.json names")
    # Whatever the saved tokenizer carried (MiniLM's pads every text to 128): the model's length, and
    # a batch padded to its longest text.
    tokenizer.no_padding()
    tokenizer.enable_truncation(meta["max_seq_length"])
    tokenizer.enable_padding(pad_id=meta["pad_id"], pad_token=meta["pad_token"], pad_type_id=meta["pad_type_id"])
    return session, tokenizer


# -- export ----------------------------------------------------------------------------------------
def ensure_query_encoder(embedder: "SentenceTransformerEmbedder", models_dir: Path) -> Path | None:
    """Export the embedder's query model unless a complete export for it exists: the new
    export's folder, or None (one existed, or it cannot be exported)."""
    if find_query_encoder(embedder.spec, models_dir, embedder.max_seq_length) is not None:
        return None
    return export_query_encoder(embedder, models_dir)


def export_query_encoder(embedder: "SentenceTransformerEmbedder", models_dir: Path) -> Path | None:
    """Export the query model of a loaded torch embedder into ``models_dir/onnx/<id>/`` (written to
    a temporary folder, checked against torch, renamed into place) and return that folder; None,
    with a log line, when onnxruntime or onnx is missing, the pipeline is not one this supports,
    or the exported model's vectors differ from torch's."""
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        log.debug("onnxruntime is not installed: no query encoder export")
        return None
    if importlib.util.find_spec("onnx") is None:
        log.info("query encoder not exported: torch's ONNX exporter needs the package onnx")
        return None
    plan = _exportable(embedder.model)
    if isinstance(plan, str):
        log.info("query encoder of %s not exported: %s", embedder.spec.model, plan)
        return None
    target = Path(models_dir).expanduser() / "onnx" / query_encoder_id(embedder.spec, embedder.max_seq_length)
    scratch.sweep(target.parent)  # an export a killed run left half-written (about 90 MB)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        _write(tmp, embedder, *plan)
        worst = _self_check(tmp, embedder)
        if worst < MIN_COSINE:
            log.warning("query encoder not exported: its vectors differ from torch's (cosine %.6f)", worst)
            return None
        _add_int8(tmp, embedder)
        _replace(target, tmp)
        _remove_outdated(target.parent)
    # The export is an extra after a finished `index` run: whatever torch's exporter or onnxruntime
    # raise (they share no base class below Exception), searches just keep using torch.
    except Exception as exc:
        log.warning("query encoder not exported: %s: %s", type(exc).__name__, exc)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.debug("query encoder exported to %s (cosine to torch >= %.7f)", target, worst)
    return target


def _exportable(model: Any) -> tuple[Any, str] | str:
    """(transformer module, pooling) of a sentence-transformers model this can export, or why not."""
    modules = list(model)
    kinds = [type(m).__name__ for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        return f"its pipeline is {' + '.join(kinds)}, not Transformer + Pooling [+ Normalize]"
    pooling = _pooling_mode(modules[1])
    if pooling not in POOLINGS:
        return f"its pooling is {pooling!r}, not mean or cls"
    tokenizer = getattr(modules[0], "tokenizer", None)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        return "it has no fast tokenizer"
    names = list(getattr(tokenizer, "model_input_names", ()))
    if "input_ids" not in names or set(names) - set(_ENCODING_FIELDS):
        return f"its inputs are {names}"
    if getattr(tokenizer, "padding_side", "right") != "right":
        return "its tokenizer pads on the left"
    return modules[0], pooling


def _pooling_mode(pooling: Any) -> str:
    """'mean', 'cls', or another name, of a Pooling module of any sentence-transformers version."""
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")  # sentence-transformers 5 and later
    if isinstance(mode, (list, tuple)):
        mode = "+".join(map(str, mode))
    if isinstance(mode, str):
        return mode
    flags = [name for name, on in config.items() if name.startswith("pooling_mode_") and on is True]
    names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    return "+".join(names.get(f, f) for f in flags)


def _write(folder: Path, embedder: "SentenceTransformerEmbedder", transformer: Any, pooling: str) -> None:
    """model.onnx, tokenizer.json and meta.json of the query model into a new ``folder``."""
    import warnings

    import torch

    tokenizer = transformer.tokenizer
    names = list(tokenizer.model_input_names)
    hf_model = getattr(transformer, "auto_model", None) or transformer.model

    class LastHiddenState(torch.nn.Module):
        # Called positionally, transformers 5's BertModel takes the mask for another argument.
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    folder.mkdir(parents=True)
    sample = tokenizer(["a query", "a somewhat longer query to pad against"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it treats as constants
        torch.onnx.export(LastHiddenState().eval(), tuple(sample[n] for n in names), str(folder / "model.onnx"),
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    spec = embedder.spec
    meta = {"format": FORMAT, "key": embedder.key, "name": embedder.name, "dim": embedder.dim,
            "query_model": spec.model, "document_model": spec.document_model,
            "document_prefix": spec.document_prefix, "pooling": pooling,
            "max_seq_length": int(embedder.model.max_seq_length), "input_names": names,
            "lowercase": bool(getattr(transformer, "do_lower_case", False)),
            "pad_id": int(tokenizer.pad_token_id or 0), "pad_token": str(tokenizer.pad_token or "[PAD]"),
            "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
            "model_bytes": (folder / "model.onnx").stat().st_size, "int8_bytes": 0, "torch": torch.__version__}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _add_int8(folder: Path, embedder: "SentenceTransformerEmbedder") -> None:
    """Quantize the exported model's weights to 8 bits into ``INT8_FILE``, kept (and named in
    meta.json) only when its vectors pass :data:`MIN_COSINE_INT8`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = folder / INT8_FILE
    quantize_dynamic(str(folder / "model.onnx"), str(target), per_channel=True, weight_type=QuantType.QInt8)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["int8_bytes"] = target.stat().st_size
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    worst = _self_check(folder, embedder, int8=True)
    if worst < MIN_COSINE_INT8:
        log.info("8-bit query encoder not kept: cosine to torch %.4f", worst)
        meta["int8_bytes"] = 0
        meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        target.unlink()


def _self_check(folder: Path, embedder: "SentenceTransformerEmbedder", int8: bool = False) -> float:
    """The smallest cosine between the export's and torch's vectors of one query and of a padded
    batch (texts of different lengths, one longer than the model reads)."""
    import numpy as np

    exported = OnnxQueryEmbedder(folder, embedder.spec, threads=1, int8=int8)
    worst = 1.0
    for texts in ([_CHECK_TEXTS[0]], list(_CHECK_TEXTS)):
        ours, torch_rows = exported.encode_queries(texts), embedder.encode_queries(texts)
        worst = min(worst, float(np.min(np.sum(ours * torch_rows, axis=1))))
    return worst


def _remove_outdated(root: Path) -> None:
    """Delete exports an earlier papertide made in another format (never found again), so an
    upgrade does not leave 100 MB behind; exports for other settings are kept."""
    for folder in root.iterdir():
        try:
            found = json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            continue
        if found != FORMAT:
            log.info("removing the outdated query encoder export %s", folder)
            shutil.rmtree(folder, ignore_errors=True)


def _replace(target: Path, tmp: Path) -> None:
    """Rename ``tmp`` to ``target``, putting aside an incomplete export found there."""
    if target.exists():
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
