"""Scraping helpers: /metrics read as a loopback client and parsed by prometheus_client's parser.

Metrics are process-global and other tests increment them too, so tests compare a scrape taken
before with one taken after (`Scrape.delta`), never absolute values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

LOOPBACK = ("127.0.0.1", 50000)


@dataclass(frozen=True)
class Scrape:
    samples: list[tuple[str, dict[str, str], float]]

    def value(self, metric: str, /, **labels: str) -> float:
        """The sum of the samples called `metric` whose labels include `labels` (0 if none)."""
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == metric and labels.items() <= sample_labels.items()
        )

    def delta(self, before: Scrape, metric: str, /, **labels: str) -> float:
        return self.value(metric, **labels) - before.value(metric, **labels)

    def label_values(self, name: str, label: str) -> set[str]:
        return {
            sample_labels[label]
            for sample_name, sample_labels, _ in self.samples
            if sample_name == name and label in sample_labels
        }


def parse(text: str) -> Scrape:
    return Scrape(
        [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    )


@pytest.fixture
def loopback(app: FastAPI) -> Iterator[TestClient]:
    """A client that connects from 127.0.0.1 (the default test client's address is a name)."""
    with TestClient(app, raise_server_exceptions=False, client=LOOPBACK) as test_client:
        yield test_client


@pytest.fixture
def scrape(loopback: TestClient) -> Callable[[], Scrape]:
    def read() -> Scrape:
        response = loopback.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse(response.text)

    return read
