"""Per-position metrics through the whole actor tree in simulated sessions: kept through a feed
outage, removed from /metrics once a position is closed.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from config import load_settings
from domain.audit import ActionKind
from domain.session import EASTERN
from gateways.metrics import Metrics, serve_metrics
from simulation import runner
from simulation.runner import Progress
from simulation.scenario import load_scenario
from tests.e2e.test_simulation_e2e import SCENARIOS

MONEYNESS = "cleanup_position_moneyness_ratio"


def _contracts(metrics: Metrics) -> set[str]:
    return {sample.labels["contract"] for family in metrics.registry.collect() if family.name == MONEYNESS
            for sample in family.samples}


def _open_positions(metrics: Metrics) -> float:
    return sum(sample.value for family in metrics.registry.collect() if family.name == "cleanup_positions"
               for sample in family.samples)


def _simulate(tmp_path, scenario_file: str | Path, metrics: Metrics, watch) -> runner.SimulationResult:
    scenario = load_scenario(SCENARIOS / scenario_file)
    settings = load_settings(flags={"data_dir": str(tmp_path / "data"),
                                    "simulation_dir": str(tmp_path / "simulations")}, environ={}).settings
    settings = runner.simulation_settings(settings, scenario, None)
    return runner.run_simulation(scenario, settings, metrics=metrics, on_progress=watch)


def _et(instant: datetime) -> time:
    return instant.astimezone(EASTERN).time()


def test_a_feed_outage_keeps_the_last_assessed_values(tmp_path) -> None:
    """The feed is down 15:54:00-15:55:30: prices go stale after 5 s, the position stays visible."""
    metrics = Metrics(process_collectors=False)
    during: list[tuple[set[str], float, float | None]] = []

    def watch(progress: Progress) -> None:
        if time(15, 54, 30) <= _et(progress.now) <= time(15, 55, 15):
            during.append((_contracts(metrics), _open_positions(metrics),
                           metrics.registry.get_sample_value(MONEYNESS, {"contract": "SPY 20261125 639C"})))

    _simulate(tmp_path, "feed_outage.json", metrics, watch)
    assert during
    assert all(contracts == {"SPY 20261125 639C"} for contracts, _, _ in during)
    assert all(count == 1 for _, count, _ in during)
    assert all(moneyness is not None and moneyness > 0 for _, _, moneyness in during)  # 639C in the money


def test_a_feed_dead_from_the_start_reads_as_stale(tmp_path) -> None:
    scenario = json.loads((SCENARIOS / "feed_outage.json").read_text())
    scenario["faults"] = [{"at": "15:50", "kind": "feed_outage", "seconds": 120}]  # from the first second
    (tmp_path / "dead_feed.json").write_text(json.dumps(scenario))
    metrics = Metrics(process_collectors=False)
    ages: dict[time, float | None] = {}

    def watch(progress: Progress) -> None:
        if _et(progress.now) in (time(15, 50, 30), time(15, 51, 0)):
            ages[_et(progress.now)] = metrics.registry.get_sample_value("cleanup_quote_age_seconds")

    _simulate(tmp_path, tmp_path / "dead_feed.json", metrics, watch)
    # No quote has ever come: the age since the start (virtual seconds), past the alert's 10 s.
    assert ages == {time(15, 50, 30): 30.0, time(15, 51, 0): 60.0}


def test_a_closed_positions_series_disappear_from_the_endpoint(tmp_path) -> None:
    metrics = Metrics(process_collectors=False)
    seen: set[str] = set()

    def watch(progress: Progress) -> None:
        if progress.now.second == 0:
            seen.update(_contracts(metrics))

    result = _simulate(tmp_path, "default.json", metrics, watch)
    filled: dict[str, int] = {}
    for fill in (a for a in result.actions if a.action is ActionKind.FILL):
        key = f"{fill.symbol} {fill.expiry:%Y%m%d} {fill.strike:g}{fill.right}"
        filled[key] = filled.get(key, 0) + (fill.quantity or 0)
    positions = {p.contract.key: abs(p.quantity) for p in result.scenario.initial_positions()}
    closed = {key for key, quantity in positions.items() if filled.get(key) == quantity}
    assert closed and closed < set(positions)
    assert seen == set(positions)  # every position had its series while it was open
    with serve_metrics(metrics, "127.0.0.1", 0) as server:
        exported = _scraped_contracts(server.url)
    assert exported == set(positions) - closed


def _scraped_contracts(url: str) -> set[str]:
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    return {sample.labels["contract"] for family in text_string_to_metric_families(body)
            for sample in family.samples if sample.name == MONEYNESS}


def test_the_broker_connection_gauge_follows_a_simulated_disconnect(tmp_path) -> None:
    scenario = json.loads((SCENARIOS / "itm_long_call.json").read_text())
    scenario["faults"] = [{"at": "15:50", "kind": "broker_disconnect", "seconds": 60}]
    (tmp_path / "disconnect.json").write_text(json.dumps(scenario))
    metrics = Metrics(process_collectors=False)
    readings: dict[time, float | None] = {}

    def watch(progress: Progress) -> None:
        if _et(progress.now) in (time(15, 49, 0), time(15, 50, 30), time(15, 52, 0)):
            readings[_et(progress.now)] = metrics.registry.get_sample_value("cleanup_broker_connected")

    _simulate(tmp_path, tmp_path / "disconnect.json", metrics, watch)
    assert readings == {time(15, 49, 0): 1.0, time(15, 50, 30): 0.0, time(15, 52, 0): 1.0}
