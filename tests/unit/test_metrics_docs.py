"""docs/metrics.md documents every exported cleanup_* series and every Metrics method."""

from __future__ import annotations

import re

from gateways.metrics import Metrics, serve_metrics
from tests.support.metrics import ROOT, exercise_every_method, public_methods, scrape_sample_names

DOC = (ROOT / "docs" / "metrics.md").read_text()


def test_every_exported_metric_is_documented() -> None:
    metrics = Metrics()
    exercise_every_method(metrics)
    with serve_metrics(metrics, "127.0.0.1", 0) as server:
        names = scrape_sample_names(server.url)
    # Histogram parts and _created timestamps are documented with their family.
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in names
                if name.startswith("cleanup_") and not name.endswith("_created")}
    assert sorted(name for name in families if f"`{name}`" not in DOC) == []


def test_every_method_is_documented() -> None:
    assert sorted(name for name in public_methods() if f"{name}(" not in DOC and f"`{name}`" not in DOC) == []
