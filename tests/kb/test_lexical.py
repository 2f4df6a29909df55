"""Tokenizer and BM25 weights."""

from __future__ import annotations

import numpy as np

from deskpilot.kb.lexical import TermCounts, bm25_matrix, tokenize


def test_tokenize_stems_drops_stopwords_and_adds_bigrams() -> None:
    assert tokenize("What are the refunds for invoices?") == ["refund", "invoice", "refund invoice"]
    assert tokenize("The customer\u2019s passwords") == [
        "customer",
        "password",
        "customer password",
    ]


def test_bm25_prefers_the_document_with_the_rare_term() -> None:
    terms = TermCounts()
    docs = [
        "payment failed with card declined",
        "payment methods we accept",
        "error ERR_TLS_HANDSHAKE when connecting",
    ]
    rows = [terms.encode(tokenize(d)) for d in docs]
    matrix = bm25_matrix(rows, len(terms.vocab))
    cols = terms.lookup(tokenize("connecting fails with ERR_TLS_HANDSHAKE"))
    scores = np.asarray(matrix[:, cols].sum(axis=1)).ravel()
    assert int(scores.argmax()) == 2
    assert terms.lookup(["never-seen"]).size == 0
