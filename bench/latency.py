"""Latency and scale of the real actor tree in real time (WallClock, ticks driven here).

    python -m bench.latency [--out bench/results/] [--quick]

- tick to order: from the tick that carries an in-the-money price (its creation, just before
  Service.tick) to each resulting broker.place_order, with 1, 50 and 500 positions; p50, p99, max;
- the same with the audit store's inserts and the Notifier's sends slowed down (both get the same
  backlog of records and burst of alerts in both runs, so only their speed differs): the ratio of
  p99s says whether they leak into the trading path;
- messages per second the tree sustains (registry tells, ticks flooded, then a barrier), process RSS;
- one PositionPoller cycle (positions + working orders) against the fake IB Gateway with IBBroker.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/latency.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.context import Roles
from bench.latency_tree import ITM_SPOT, Instrumented, build_tree
from bench.report import machine
from domain.alerts import Alert, Severity
from domain.audit import ActionKind, ActionRecord, new_action_id

SLOW_SECONDS = 0.5  # each store insert batch and each alert send takes this long when slowed
BACKLOG_RECORDS = 200  # audit records queued just before the measured tick
ALERT_BURST = 20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _warm(tree: Instrumented) -> None:
    """Two out-of-the-money ticks: positions polled, quotes of held options flowing; then a barrier."""
    for _ in range(2):
        tree.service.tick()
        tree.service.sync()


def _load_side_paths(tree: Instrumented) -> None:
    registry = tree.service.registry
    now = tree.service.clock.now()
    for i in range(BACKLOG_RECORDS):
        registry.tell(Roles.AUDIT_LOGGER, ActionRecord(new_action_id(), now, ActionKind.WARN, symbol="SPY",
                                                       reason=f"bench backlog {i}"))
    for i in range(ALERT_BURST):
        registry.tell(Roles.NOTIFIER, Alert(Severity.WARNING, f"bench alert {i}", "burst", f"bench:{i}"))


def tick_to_order(positions: int, trials: int, slow: bool) -> dict:
    latencies, firsts, restarts = [], [], 0
    for _ in range(trials):
        tree = build_tree(positions, slow_store=SLOW_SECONDS if slow else 0.0,
                          slow_sender=SLOW_SECONDS if slow else 0.0)
        try:
            _warm(tree)
            tree.order_times.clear()
            _load_side_paths(tree)
            tree.source.spot = ITM_SPOT
            started = time.perf_counter()
            tree.service.tick()
            deadline = started + 60
            while len(tree.order_times) < positions and time.perf_counter() < deadline:
                time.sleep(0.0005)
            got = [t - started for t in tree.order_times[:positions]]
            if len(got) < positions:
                raise RuntimeError(f"only {len(got)} of {positions} orders within 60 s")
            latencies += got
            firsts.append(got[0])
            restarts += sum(tree.service.supervisor.restarts.values())
        finally:
            tree.stop()
    ms = sorted(x * 1000 for x in latencies)
    return {"positions": positions, "trials": trials, "slowed": slow, "orders": len(ms),
            "p50_ms": round(_pct(ms, 50), 3), "p99_ms": round(_pct(ms, 99), 3), "max_ms": round(ms[-1], 3),
            "first_order_p50_ms": round(statistics.median(firsts) * 1000, 3),
            "first_order_p99_ms": round(_pct(sorted(x * 1000 for x in firsts), 99), 3), "restarts": restarts}


def _pct(sorted_values: list[float], pct: float) -> float:
    index = min(int(round(pct / 100 * (len(sorted_values) - 1))), len(sorted_values) - 1)
    return sorted_values[index]


def throughput(positions: int, ticks: int) -> dict:
    tree = build_tree(positions, minutes_to_close=20)  # T-30 stage: assess and warn, no orders
    try:
        _warm(tree)
        before, started = tree.tells[0], time.perf_counter()
        for _ in range(ticks):
            tree.service.tick()
        tree.service.sync()
        elapsed = time.perf_counter() - started
        messages = tree.tells[0] - before
        return {"positions": positions, "ticks": ticks, "seconds": round(elapsed, 3),
                "ticks_per_second": round(ticks / elapsed, 1), "messages": messages,
                "messages_per_second": round(messages / elapsed), "rss_mb": round(rss_mb(), 1)}
    finally:
        tree.stop()


def poller_cycle(positions: int, cycles: int) -> dict:
    """positions() + working_orders(), what PositionPoller._maybe_poll asks the broker each cycle."""
    try:
        from gateways.ib import IBBroker
        from runtime.clock import WallClock
        from tests.fakes.ib_gateway import FakeContract, FakeIBGateway, FakePosition, GatewayScript
        from tests.fakes.ib_gateway.harness import settings_for
    except ImportError as error:  # the IB side is another engineer's: say so rather than fail
        return {"positions": positions, "available": False, "error": str(error)}
    script = GatewayScript(positions=[FakePosition(FakeContract.option(f"SPY 20261127 {500 + i}C"), 1, 100.0)
                                      for i in range(positions)])
    gateway = FakeIBGateway(script).start()
    broker = IBBroker(settings_for(gateway), WallClock(), request_timeout=10, connect_timeout=10)
    try:
        broker.connect()
        times = []
        for _ in range(cycles):
            started = time.perf_counter()
            seen = broker.positions()
            broker.working_orders()
            times.append((time.perf_counter() - started) * 1000)
        ms = sorted(times)
        return {"positions": positions, "available": True, "broker": "IBBroker against tests/fakes/ib_gateway",
                "cycles": cycles, "positions_read": len(seen), "p50_ms": round(_pct(ms, 50), 3),
                "max_ms": round(ms[-1], 3)}
    finally:
        broker.disconnect()
        gateway.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="latency and scale of the actor tree in real time")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--quick", action="store_true", help="fewer trials (a minute instead of several)")
    args = parser.parse_args(argv)
    trials = {1: 10, 50: 5, 500: 2} if args.quick else {1: 30, 50: 10, 500: 4}
    started = time.perf_counter()
    data: dict = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                  "rss_mb_start": round(rss_mb(), 1), "slow_seconds": SLOW_SECONDS,
                  "backlog_records": BACKLOG_RECORDS, "alert_burst": ALERT_BURST}
    data["tick_to_order"] = [tick_to_order(n, t, slow) for n, t in trials.items() for slow in (False, True)]
    data["ratios_p99_slowed_over_normal"] = {
        str(n): round(_find(data, n, True)["p99_ms"] / _find(data, n, False)["p99_ms"], 3) for n in trials}
    # The target: the first order of the largest book within 2x the 1-position figure (and 10 ms)
    largest = max(trials)
    data["first_order_p99_ratio_over_1_position"] = {
        "slowed" if slow else "normal": round(_find(data, largest, slow)["first_order_p99_ms"]
                                              / _find(data, 1, slow)["first_order_p99_ms"], 3)
        for slow in (False, True)}
    data["throughput"] = [throughput(50, 100 if args.quick else 300), throughput(500, 20 if args.quick else 60)]
    data["poller_cycle"] = [poller_cycle(n, 10 if args.quick else 30) for n in (50, 500)]
    data["rss_mb_end"] = round(rss_mb(), 1)
    data["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    (args.out / "latency.md").write_text(text)
    print(text)
    return 0


def _find(data: dict, positions: int, slow: bool) -> dict:
    return next(r for r in data["tick_to_order"] if r["positions"] == positions and r["slowed"] is slow)


def markdown(data: dict) -> str:
    m = data["machine"]
    lines = ["# Latency and scale of the actor tree (real time)", "",
             f"Run {data['generated_at']} on {m['nproc']} x {m['cpu']} (Python {m['python']}), {data['seconds']} s. "
             f"Slowed: every audit-store insert batch and every alert send sleeps {data['slow_seconds']} s; both "
             f"runs get {data['backlog_records']} audit records and {data['alert_burst']} alerts just before the "
             "measured tick.", "",
             "| Positions | Side paths | Orders | p50 (ms) | p99 (ms) | max (ms) | first order p50 (ms) "
             "| first order p99 (ms) | restarts |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data["tick_to_order"]:
        lines.append(f"| {r['positions']} | {'slowed' if r['slowed'] else 'normal'} | {r['orders']} | {r['p50_ms']} "
                     f"| {r['p99_ms']} | {r['max_ms']} | {r['first_order_p50_ms']} | {r['first_order_p99_ms']} "
                     f"| {r['restarts']} |")
    lines += ["", "p99 slowed / normal (same run): " + ", ".join(
        f"{n} positions {ratio}x" for n, ratio in data["ratios_p99_slowed_over_normal"].items()), "",
        "First order p99, largest book / 1 position (same run; target <= 2x): " + ", ".join(
            f"{side} {ratio}x" for side, ratio in data["first_order_p99_ratio_over_1_position"].items()), "",
        "| Positions | Ticks flooded | Ticks/s | Messages/s | RSS (MB) |", "|---:|---:|---:|---:|---:|"]
    for r in data["throughput"]:
        lines.append(f"| {r['positions']} | {r['ticks']} | {r['ticks_per_second']} | {r['messages_per_second']} "
                     f"| {r['rss_mb']} |")
    lines += ["", f"Process RSS: {data['rss_mb_start']} MB at start, {data['rss_mb_end']} MB at the end.", "",
              "PositionPoller cycle (positions + working orders):", ""]
    for r in data["poller_cycle"]:
        if r.get("available"):
            lines.append(f"- {r['positions']} positions, {r['broker']}: p50 {r['p50_ms']} ms, max {r['max_ms']} ms "
                         f"over {r['cycles']} cycles ({r['positions_read']} positions read)")
        else:
            lines.append(f"- {r['positions']} positions: fake IB Gateway not usable ({r.get('error')})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
