"""Reading a Prometheus text page over HTTP, the way Prometheus does."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, its labels) -> value, from one GET of `url`."""
    # Prometheus signs in nowhere: a redirect to a login page is a failure here.
    response = requests.get(url, timeout=10, allow_redirects=False)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    assert response.headers["Content-Type"].startswith("text/plain"), response.headers["Content-Type"]
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict, name: str, **wanted: str) -> float:
    """The sum of every sample named `name` whose labels include `wanted`."""
    return sum(value for (sample, labels), value in samples.items() if sample == name and set(wanted.items()) <= labels)


def names(samples: dict) -> set[str]:
    return {sample for sample, _ in samples}
