"""Deterministic stand-ins for AI components whose real versions are slow or remote."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from deskpilot.ai.ports import Vectors


class HashingEmbedder:
    """Bag-of-words vectors hashed into 384 dimensions: shared words mean similar vectors.

    Enough for tests of indexing, isolation and plumbing; tests of semantic quality use the
    real model (marker `real_embedder`).
    """

    name = "tests-hashing"
    dim = 384

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                vectors[row, int.from_bytes(digest, "big") % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
