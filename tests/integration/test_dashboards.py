"""The Grafana dashboards and provisioning files: well formed, portable, and using only exported metrics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateways.metrics import Metrics, serve_metrics
from tests.support.metrics import (
    DASHBOARD_DIR,
    ROOT,
    all_panels,
    dashboard_files,
    exercise_every_method,
    load_dashboard,
    metric_names,
    panel_queries,
    public_methods,
    scrape_sample_names,
)

DATASOURCE_VARIABLE = "${datasource}"


def test_both_dashboards_exist_and_parse() -> None:
    names = [path.name for path in dashboard_files()]
    assert names == ["expiration-day.json", "kpi.json"]
    uids = [load_dashboard(path)["uid"] for path in dashboard_files()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_panel_ids_are_unique_and_panels_fit_the_grid(path: Path) -> None:
    panels = list(all_panels(load_dashboard(path)))
    ids = Counter(panel["id"] for panel in panels)
    assert [pid for pid, n in ids.items() if n > 1] == []
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_no_datasource_is_hard_coded(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert "__inputs" not in dashboard and "__requires" not in dashboard
    variables = dashboard["templating"]["list"]
    assert {"name": "datasource", "type": "datasource", "query": "prometheus"}.items() <= variables[0].items()
    for where, key, value in _walk(dashboard):
        if key == "datasource":
            uid = value.get("uid") if isinstance(value, dict) else value
            assert uid == DATASOURCE_VARIABLE, f"{where} names a datasource: {value!r}"
        if key == "uid" and where != ".uid":
            assert value == DATASOURCE_VARIABLE, f"{where} is a hard-coded uid: {value!r}"
    for panel in all_panels(dashboard):
        targets = panel.get("targets", [])
        assert panel["type"] == "row" or targets, f"panel {panel['title']!r} has no query"
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]


def _titles(name: str) -> str:
    return " | ".join(panel["title"].lower() for panel in all_panels(load_dashboard(DASHBOARD_DIR / name)))


@pytest.mark.parametrize("name, wanted", [
    ("expiration-day.json", ["mode", "stage", "time to close", "positions at risk", "heat map", "action timeline",
                             "kill switch", "circuit breaker", "price source", "quote age"]),
    ("kpi.json", ["exercise prevention rate", "slippage", "false positive rate", "uptime", "restarts",
                  "ib messages"]),
])
def test_dashboards_show_what_the_issue_asks_for(name: str, wanted: list[str]) -> None:
    titles = _titles(name)
    assert [word for word in wanted if word not in titles] == []


def test_every_metric_in_every_panel_is_exported() -> None:
    """Checked against a live scrape after every Metrics method has run, never a hand-kept list."""
    metrics = Metrics()
    recorder = exercise_every_method(metrics)
    assert recorder.called == public_methods()
    with serve_metrics(metrics, "127.0.0.1", 0) as server:
        exported = scrape_sample_names(server.url)
    missing = []
    for dashboard, title, expr in panel_queries():
        used = metric_names(expr)
        assert used, f"{dashboard} / {title}: no metric in {expr!r}"
        missing += [f"{dashboard} / {title}: {name}" for name in sorted(used - exported)]
    assert missing == []


def _panel_expr(board: str, title: str) -> str:
    (expr,) = [e for b, t, e in panel_queries() if (b, t) == (board, title)]
    return expr


def test_false_positive_rate_divides_by_every_position_closed() -> None:
    # As domain.settlement.session_kpis: false positives are a subset of the positions closed, so
    # the rate stays within 0-1; the at-risk closes are a disjoint set and would let it pass 100%.
    numerator, denominator = _panel_expr("kpi.json", "False positive rate").split(" / ")
    assert metric_names(numerator) == {"cleanup_false_positives_total"}
    assert metric_names(denominator) == {"cleanup_positions_closed_total"}


def test_provisioning_points_grafana_at_the_dashboards() -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/cleanup-manager.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    # Copying grafana/provisioning/ to Grafana's provisioning directory puts the JSON at this path.
    assert entry["options"]["path"].endswith("/provisioning/dashboards/cleanup-manager")
    assert Path(entry["options"]["path"]).name == DASHBOARD_DIR.name
    sources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http://127.0.0.1:")
