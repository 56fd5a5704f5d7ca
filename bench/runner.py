"""Run every policy on the same generated days: the benchmark's one entry point, used by kpi and sweep."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.engine import DayTally, PositionRun, run_day
from bench.generator import Day, GeneratorConfig, generate_days
from bench.policies import Policy, default_policies
from config.loader import load_settings
from config.schema import Settings
from domain.pacing import paced_rate


@dataclass
class BenchRun:
    n: int
    seed: int
    config: GeneratorConfig
    policies: list[Policy]
    runs: dict[str, list[PositionRun]] = field(default_factory=dict)
    tallies: dict[str, DayTally] = field(default_factory=dict)  # summed over the days
    days: list[dict] = field(default_factory=list)  # a summary per day (session, early close, jump)
    big_day: dict[str, list[float]] = field(default_factory=dict)  # per policy: when each close went out that day
    seconds: float = 0.0
    messages_per_second: float = 0.0  # IB's pacing, as the broker paced (domain.pacing.paced_rate of the setting)


def benchmark_settings() -> Settings:
    """The embedded defaults (config/defaults.toml): max_attempts, walk interval, slippage cap, breaker."""
    return load_settings(environ={}).settings


def run_benchmark(n: int, seed: int, policies: list[Policy] | None = None,
                  config: GeneratorConfig | None = None, settings: Settings | None = None) -> BenchRun:
    started = time.perf_counter()
    config = config or GeneratorConfig()
    policies = policies or default_policies()
    settings = settings or benchmark_settings()
    result = BenchRun(n, seed, config, policies, {policy.name: [] for policy in policies},
                      {policy.name: DayTally() for policy in policies},
                      messages_per_second=paced_rate(settings.ib_messages_per_second))
    for day in generate_days(n, seed, config):
        for name, (runs, tally) in run_day(day, policies, settings, config).items():
            result.runs[name].extend(runs)
            total = result.tallies[name]
            total.guard_refusals += tally.guard_refusals
            total.over_closes += tally.over_closes
            total.structures += tally.structures
            total.naked_legs_left += tally.naked_legs_left
            total.combos += tally.combos
            if day.index == config.big_day:
                result.big_day[name] = tally.closes_sent
        result.days.append(_day_summary(day))
    result.seconds = time.perf_counter() - started
    return result


def _day_summary(day: Day) -> dict:
    return {"day": day.session.day.isoformat(), "early_close": day.session.early_close, "vol": round(day.vol, 4),
            "jump": day.jump_at is not None, "positions": len(day.positions),
            "spread_share": round(day.spread.share_of_price, 5), "widening": round(day.spread.widening, 3),
            "close_move": round(day.after_hours / day.close_spot - 1, 5), "trader_orders": len(day.orders),
            "stale_quotes": len(day.stale), "structures_built": len(day.structures)}
