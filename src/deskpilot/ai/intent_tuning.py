"""Fine-tuning the MiniLM encoder on a classifier's own labelled texts, and running the result.

A frozen sentence encoder places "card not arrived" and "card not working" close together: both
are about a card. A classifier needs them apart, so we train a copy of the encoder with a cosine
softmax head (NormFace): every label is a unit prototype, initialised at its class centroid of the
frozen embeddings, and the logits are `scale * cos(text, prototype)`. Embeddings stay on the unit
sphere, so the cosine to the nearest class centroid still works as an in-scope score afterwards.
The head is then thrown away; the logistic regression in `classifier.py` is fitted on the tuned
embeddings.

At prediction time a classifier's encoder (`ClassifierEncoder`: the built-in MiniLM as it is, or
a tuned copy) runs with int8 dynamic quantisation of its linear layers: about 2.5x faster on CPU
than float32 (one ticket ~4 ms instead of ~10 ms on a free core), vectors within cosine ~0.93-0.99
of the float ones, and no loss of accuracy once the classifier is trained on the same int8
vectors. Tuned weights are stored in float32 and quantised on load.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deskpilot.ai.ports import Vectors

log = logging.getLogger(__name__)
ENCODE_BATCH = 64


@dataclass(frozen=True)
class TuningConfig:
    epochs: float = 2.0
    """Passes over the training texts; fractions allowed (the last pass is cut short)."""
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 5e-3
    warmup_share: float = 0.1
    scale: float = 30.0
    """Logit scale of the cosine head: high enough for confident softmax over many labels."""
    max_seq_length: int = 64
    seed: int = 0
    quantize: bool = True


def _quiet_import_torch() -> Any:
    import torch

    return torch


def load_base(path: Path, max_seq_length: int) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    model.max_seq_length = max_seq_length
    return model


def _embed_batch(model: Any, texts: list[str]) -> Any:
    import torch.nn.functional as F  # noqa: N812 - the conventional name

    prepare = getattr(model, "preprocess", None) or model.tokenize
    return F.normalize(model(prepare(texts))["sentence_embedding"], dim=-1)


def fine_tune(
    base_path: Path,
    texts: Sequence[str],
    labels: Sequence[str],
    config: TuningConfig,
    *,
    initial_vectors: Vectors | None = None,
) -> Any:
    """A tuned copy of the encoder at `base_path` (a SentenceTransformer, in eval mode).

    `initial_vectors` (the frozen embeddings of `texts`) seed the label prototypes; without them
    the prototypes start at random and the first steps are noisier.
    """
    torch = _quiet_import_torch()
    import torch.nn.functional as F  # noqa: N812

    torch.manual_seed(config.seed)
    model = load_base(base_path, config.max_seq_length)
    # Token embeddings stay frozen: they are most of the weights (so most of the optimiser's
    # time), and rare words seen in training alone would drift away from their neighbours.
    for parameter in model[0].auto_model.embeddings.parameters():
        parameter.requires_grad_(False)
    classes = sorted(set(labels))
    index = {label: i for i, label in enumerate(classes)}
    targets = np.asarray([index[label] for label in labels])
    if initial_vectors is not None:
        sums = np.zeros((len(classes), initial_vectors.shape[1]), dtype=np.float32)
        np.add.at(sums, targets, initial_vectors)
        prototypes = torch.tensor(sums)
    else:
        prototypes = torch.randn(len(classes), model.get_sentence_embedding_dimension())
    head = torch.nn.Parameter(F.normalize(prototypes, dim=-1))
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for p in model.parameters() if p.requires_grad],
                "lr": config.learning_rate,
            },
            {"params": [head], "lr": config.head_learning_rate, "weight_decay": 0.0},
        ]
    )
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    total = max(1, int(steps_per_epoch * config.epochs))
    warmup = max(1, int(total * config.warmup_share))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = random.Random(config.seed)
    started = time.monotonic()
    model.train()
    step = 0
    while step < total:
        for batch in _length_bucketed_batches(texts, config.batch_size, rng):
            if len(batch) < 2 or step >= total:
                continue
            embeddings = _embed_batch(model, [texts[i] for i in batch])
            logits = config.scale * embeddings @ F.normalize(head, dim=-1).T
            loss = F.cross_entropy(logits, torch.as_tensor(targets[batch]))
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            step += 1
    model.eval()
    log.info(
        "tuned the encoder on %d texts, %d labels, %d steps in %.0fs",
        len(texts),
        len(classes),
        total,
        time.monotonic() - started,
    )
    return model


def _length_bucketed_batches(
    texts: Sequence[str], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of texts of similar length (less padding: ~1.7x faster steps); texts
    are shuffled within small windows first, so each epoch's batches differ."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(texts[i]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def quantized(model: Any) -> Any:
    """The model with int8 dynamic quantisation of its linear layers (CPU inference only)."""
    torch = _quiet_import_torch()
    with warnings.catch_warnings():
        # Eager dynamic quantisation is deprecated in favour of torchao, which we do not ship;
        # it still works on the pinned torch.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def encode(model: Any, texts: Sequence[str]) -> Vectors:
    """Unit-length embeddings, one row per text, in order."""
    torch = _quiet_import_torch()
    out = []
    with torch.inference_mode():
        # Similar lengths per batch: less padding, and the same vectors as one by one.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), ENCODE_BATCH):
            chunk = order[start : start + ENCODE_BATCH]
            out.append(_embed_batch(model, [texts[i] for i in chunk]).numpy())
    vectors = np.zeros((len(texts), out[0].shape[1] if out else 0), dtype=np.float32)
    if out:
        vectors[order] = np.vstack(out)
    return vectors


_shared_lock = threading.Lock()
_shared_base: dict[Path, Any] = {}


class ClassifierEncoder:
    """The encoder a classifier owns: the built-in MiniLM as it is, or a copy fine-tuned on the
    classifier's examples, run int8-quantised when `quantize`.

    A tuned one is saved as a sentence-transformers folder next to the classifier artifact; the
    untuned one saves nothing (its quantised model is shared by every classifier in the
    process). Models load on first use, never pickled.
    """

    def __init__(
        self, base: Path, *, tuned: bool, quantize: bool, max_seq_length: int = 128
    ) -> None:
        self.tuned = tuned
        self.quantize = quantize
        self.max_seq_length = max_seq_length
        self.directory: Path | None = None if tuned else base
        self._trained: Any = None
        self._model: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_tuned(cls, model: Any, config: TuningConfig) -> ClassifierEncoder:
        encoder = cls(
            Path(), tuned=True, quantize=config.quantize, max_seq_length=config.max_seq_length
        )
        encoder._trained = model
        encoder._model = encoder._for_inference(model)
        return encoder

    @property
    def description(self) -> str:
        return ("fine-tuned" if self.tuned else "frozen") + (", int8" if self.quantize else "")

    def _for_inference(self, model: Any) -> Any:
        model.eval()
        return quantized(model) if self.quantize else model

    def __getstate__(self) -> dict[str, Any]:
        return {
            "tuned": self.tuned,
            "quantize": self.quantize,
            "max_seq_length": self.max_seq_length,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from deskpilot.ai.embeddings import builtin_model_path

        self.__init__(  # type: ignore[misc]
            builtin_model_path(),
            tuned=state["tuned"],
            quantize=state["quantize"],
            max_seq_length=state["max_seq_length"],
        )

    def save(self, directory: Path) -> None:
        """Write a tuned encoder's float weights to `directory` (from memory, or copied from
        where they were loaded) and use that folder from now on."""
        if not self.tuned or directory == self.directory:
            return
        if self._trained is not None:
            shutil.rmtree(directory, ignore_errors=True)
            self._trained.save(str(directory))
        elif self.directory is not None and self.directory.is_dir():
            shutil.copytree(self.directory, directory, dirs_exist_ok=True)
        else:
            raise FileNotFoundError("the tuned encoder has no weights to save")
        self.directory = directory

    def attach(self, artifact_directory: Path) -> None:
        """A loaded tuned encoder's weights are in `artifact_directory`."""
        if self.tuned:
            self.directory = artifact_directory

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.directory is None or not self.directory.is_dir():
                    raise FileNotFoundError(f"encoder files missing: {self.directory}")
                _limit_threads(inference_threads())
                if self.tuned:
                    self._model = self._for_inference(
                        load_base(self.directory, self.max_seq_length)
                    )
                else:
                    self._model = self._shared_base()
        return self._model

    def _shared_base(self) -> Any:
        assert self.directory is not None
        key = self.directory / ("int8" if self.quantize else "float")
        with _shared_lock:
            if key not in _shared_base:
                base = load_base(self.directory, self.max_seq_length)
                _shared_base[key] = self._for_inference(base)
            return _shared_base[key]

    def embed(self, texts: Sequence[str]) -> Vectors:
        return encode(self._load(), texts)


def _limit_threads(count: int) -> None:
    """Torch and BLAS (numpy's matrix products: the neighbour vote) use `count` threads: more
    BLAS threads than free cores make a one-ticket product 10x slower on a busy machine."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    _quiet_import_torch().set_num_threads(count)
    threadpool_limits(limits=count, user_api="blas")


def inference_threads() -> int:
    """The process's configured torch threads (`embeddings.configure_threads`)."""
    from deskpilot.ai.embeddings import configured_threads

    return configured_threads()
