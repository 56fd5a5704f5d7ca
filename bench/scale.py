"""Scale in real time: 2,000 expiring positions from T-6 to the close, a heartbeat every second.

The question (issue 21): is any tick dropped or handled more than a second late between T-6 and the
close, while every position is judged on every tick and, at T-5, every one of them is closed, paced
at IB's message rate? Each actor's tick lag (the heartbeat's age when the actor handles it; for the
RiskAssessor, the age of the price update it judges on, stamped when the feed read it) and the
ticks it drops (older than actors.base.MAX_TICK_LAG_SECONDS) are recorded by wrapping, never by
editing the actors; the paper broker paces the orders out as IB would and is processed every second,
as the simulator does.

    .venv/bin/python -m bench.scale                   # 2,000 positions, ~6.5 min
    .venv/bin/python -m bench.scale --positions 500   # the same at another size
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from actors.base import MAX_TICK_LAG_SECONDS, SupervisedActor
from bench.latency import rss_mb
from bench.latency_tree import ITM_SPOT, build_tree
from bench.report import machine
from domain.messages import MarketUpdate, Tick

START_MINUTES = 6.2  # before the close: T-6 with a little room to warm up
ITM_AT_MINUTES = 5.0  # the price jumps in the money as T-5 begins: every position closes at once


class TickRecorder:
    """Every actor's tick lags and dropped ticks, by role."""

    def __init__(self) -> None:
        self.lags: dict[str, list[float]] = defaultdict(list)
        self.dropped: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def install(self) -> None:
        recorder, on_receive, drop = self, SupervisedActor.on_receive, SupervisedActor._drop_late

        def timed_receive(actor, message):
            if isinstance(message, Tick | MarketUpdate):  # the assessor's tick is the price update
                lag = (actor.ctx.clock.now() - (message.now if isinstance(message, Tick) else message.at))
                with recorder._lock:
                    recorder.lags[actor.role].append(lag.total_seconds())
            return on_receive(actor, message)

        def counted_drop(actor, tick):
            with recorder._lock:
                recorder.dropped[actor.role] += 1
            return drop(actor, tick)

        SupervisedActor.on_receive = timed_receive  # type: ignore[method-assign]
        SupervisedActor._drop_late = counted_drop  # type: ignore[method-assign]

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            result = {}
            for role, lags in sorted(self.lags.items()):
                ordered = sorted(lags)
                result[role] = {"ticks": len(ordered), "dropped": self.dropped.get(role, 0),
                                "late_over_1s": sum(1 for lag in ordered if lag > 1.0),
                                "p99_lag_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
                                                    1),
                                "max_lag_ms": round(ordered[-1] * 1000, 1)}
            return result


def run(positions: int) -> dict:
    recorder = TickRecorder()
    recorder.install()
    tree = build_tree(positions, minutes_to_close=START_MINUTES)
    service, broker, session = tree.service, tree.broker, tree.service.session
    started = time.perf_counter()
    first_order_at: float | None = None
    try:
        next_beat = time.monotonic()
        while (now := service.clock.now()) < session.close:
            if tree.source.spot != ITM_SPOT and session.minutes_to_close(now) <= ITM_AT_MINUTES:
                tree.source.spot = ITM_SPOT
            broker.process(now)
            service.tick()
            if first_order_at is None and tree.order_times:
                first_order_at = tree.order_times[0]
            next_beat += 1.0
            time.sleep(max(0.0, next_beat - time.monotonic()))
        broker.process(service.clock.now())
    finally:
        tree.stop()
    sent = sorted(broker.sent_at)
    orders = len(broker.placed)
    span = (sent[-1] - sent[0]).total_seconds() if len(sent) > 1 else 0.0
    return {"positions": positions, "seconds": round(time.perf_counter() - started, 1),
            "orders_placed": orders, "messages_sent": len(sent),
            "send_span_seconds": round(span, 1),
            "pacing_floor_seconds": round(len(sent) / service.config.settings.ib_messages_per_second, 1),
            "max_tick_lag_seconds": MAX_TICK_LAG_SECONDS, "actors": recorder.summary(),
            "rss_mb": round(rss_mb(), 1)}


def markdown(data: dict) -> str:
    lines = [f"# Scale: {data['positions']:,} positions from T-6 to the close (real time)", "",
             f"Run {data['generated_at']} on {data['machine']['cpu']} (Python {data['machine']['python']}), "
             f"{data['seconds']} s. At T-5 the price jumps in the money: every position is closed.", "",
             f"Orders placed {data['orders_placed']:,}; messages sent by the paced outbox {data['messages_sent']:,} "
             f"over {data['send_span_seconds']} s (pacing floor at IB's rate: {data['pacing_floor_seconds']} s). "
             f"RSS {data['rss_mb']} MB.", "",
             f"| Actor | Ticks | Dropped (> {data['max_tick_lag_seconds']:g} s) | Late > 1 s | p99 lag (ms) | "
             "max lag (ms) |", "|---|---:|---:|---:|---:|---:|"]
    for role, row in data["actors"].items():
        lines.append(f"| {role} | {row['ticks']} | {row['dropped']} | {row['late_over_1s']} | {row['p99_lag_ms']} | "
                     f"{row['max_lag_ms']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ticks from T-6 to the close with thousands of positions")
    parser.add_argument("--positions", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if args.positions < 1:
        parser.error("--positions must be at least 1")
    data = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            **run(args.positions)}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"scale-{args.positions}"
    (args.out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
