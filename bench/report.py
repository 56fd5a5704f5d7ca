"""The KPI table (markdown) and the JSON of a benchmark run, with the seed's targets checked."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.metrics import PolicyKpis, policy_kpis, slippages_cents
from bench.runner import BenchRun

# The seed's KPI targets (uptime is not a property of a policy: see latency.md).
TARGETS = {"exercise_prevention_rate": 0.99, "mean_slippage_cents": 5.0, "false_positive_rate": 0.10}
COLUMNS = ("Policy", "Prevention", "Contracts exercised/assigned", "False positive rate", "Mean slippage (¢)",
           "p95 slippage (¢)", "Closure cost ($)", "Cost per closed contract ($)", "Positions closed",
           "Orders (rejected)")


def table_rows(kpis: list[PolicyKpis]) -> list[list[str]]:
    def cents(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return [[k.policy, f"{k.exercise_prevention_rate:.2%} ({k.prevented}/{k.prevented + k.missed})",
             str(k.contracts_exercised_or_assigned),
             f"{k.false_positive_rate:.2%} ({k.false_positives}/{k.closed_positions})",
             cents(k.mean_slippage_cents), cents(k.p95_slippage_cents), f"{k.closure_cost_dollars:,.0f}",
             "-" if k.closure_cost_per_contract is None else f"{k.closure_cost_per_contract:.2f}",
             str(k.closed_positions), f"{k.orders} ({k.rejects})"] for k in kpis]


def markdown_table(kpis: list[PolicyKpis]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(kpis)]
    return "\n".join(lines)


def target_checks(k: PolicyKpis) -> dict[str, bool]:
    return {
        "exercise_prevention_rate > 99 %": k.exercise_prevention_rate > TARGETS["exercise_prevention_rate"],
        "mean slippage < 5 cents": k.mean_slippage_cents is not None
        and k.mean_slippage_cents < TARGETS["mean_slippage_cents"],
        "false positive rate < 10 %": k.false_positive_rate < TARGETS["false_positive_rate"],
    }


def comparison(kpis: list[PolicyKpis], system_name: str, cautious_name: str) -> dict:
    """The issue's bar, stated per baseline: prevention and false positives against this system's policy.

    "Ahead" is strict: a baseline that prevents as much (or more) is reported as such, with the false
    positives it pays for it, rather than hidden behind an aggregate yes/no.
    """
    by_name = {k.policy: k for k in kpis}
    ours, cautious = by_name[system_name], by_name[cautious_name]
    baselines = [k for k in kpis if not k.policy.startswith("system")]
    versus = [{"baseline": k.policy,
               "prevention_ahead": ours.exercise_prevention_rate > k.exercise_prevention_rate,
               "prevention_delta_pp": round((ours.exercise_prevention_rate - k.exercise_prevention_rate) * 100, 3),
               "false_positive_delta_pp": round((ours.false_positive_rate - k.false_positive_rate) * 100, 3)}
              for k in baselines]
    return {"false_positive_rate_no_worse_than_cautious": ours.false_positive_rate <= cautious.false_positive_rate,
            "ahead_of_every_baseline_on_prevention": all(v["prevention_ahead"] for v in versus),
            "versus": versus}


def slippage_by_spread(run: BenchRun) -> dict:
    """Mean slippage (cents) per tercile of the day's spread share: how much the headline depends on spreads."""
    shares = np.array([d["spread_share"] for d in run.days])
    if shares.size < 3:
        return {}
    edges = np.quantile(shares, [1 / 3, 2 / 3])
    tercile = np.digitize(shares, edges)
    result: dict = {"share_edges": [round(float(e), 5) for e in edges], "policies": {}}
    for policy in run.policies:
        means = []
        for t in range(3):
            values = slippages_cents(r for r in run.runs[policy.name] if tercile[r.day] == t)
            means.append(round(float(values.mean()), 3) if values.size else None)
        result["policies"][policy.name] = means
    return result


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # no /proc (not Linux): the CPU model is left blank
    return {"cpu": model, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def build(run: BenchRun) -> tuple[list[PolicyKpis], dict]:
    kpis = [policy_kpis(policy.name, run.runs[policy.name]) for policy in run.policies]
    labels = {policy.name: policy.label for policy in run.policies}
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "n_days": run.n,
        "seed": run.seed,
        "seconds": round(run.seconds, 1),
        "generator": {key: (list(value) if isinstance(value, tuple) else str(value) if hasattr(value, "isoformat")
                            else value) for key, value in asdict(run.config).items()},
        "days": {"early_close": sum(d["early_close"] for d in run.days), "late_jump": sum(d["jump"] for d in run.days),
                 "positions": sum(d["positions"] for d in run.days)},
        "targets": TARGETS,
        "policies": [{**k.to_dict(), "label": labels[k.policy], "targets_met": target_checks(k)} for k in kpis],
        "slippage_by_spread_tercile": slippage_by_spread(run),
        "comparison": {name: comparison(kpis, name, "within 1% at T-30")
                       for name in labels if name.startswith("system")},
    }
    return kpis, data


def write(run: BenchRun, out: Path) -> tuple[list[PolicyKpis], dict]:
    kpis, data = build(run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kpi.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "kpi.md").write_text(markdown(kpis, data))
    return kpis, data


def markdown(kpis: list[PolicyKpis], data: dict) -> str:
    m = data["machine"]
    lines = [f"# KPI benchmark: {data['n_days']} simulated expiration afternoons (seed {data['seed']})", "",
             f"Run {data['generated_at']} on {m['nproc']} x {m['cpu']} (Python {m['python']}) in {data['seconds']} s; "
             f"{data['days']['positions']} positions, {data['days']['early_close']} early-close days, "
             f"{data['days']['late_jump']} days with a late jump. Generator and definitions: bench/README.md.", "",
             markdown_table(kpis), "", "Policies:", ""]
    lines += [f"- **{p['policy']}**: {p['label']}" for p in data["policies"]]
    lines += ["", "Seed targets (prevention > 99 %, mean slippage < 5 ¢, false positives < 10 %):", ""]
    for p in data["policies"]:
        if p["policy"].startswith("system"):
            met = ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in p["targets_met"].items())
            lines.append(f"- {p['policy']}: {met}")
    lines += ["", "Against the baselines (cautious rule = within 1% at T-30; pp = percentage points, "
              "positive = this system higher):", ""]
    for name, checks in data["comparison"].items():
        lines.append(f"- {name}: false positive rate no worse than the cautious rule: "
                     f"{'yes' if checks['false_positive_rate_no_worse_than_cautious'] else 'NO'}; ahead of every "
                     f"baseline on prevention: {'yes' if checks['ahead_of_every_baseline_on_prevention'] else 'NO'}")
        for v in checks["versus"]:
            lines.append(f"  - vs {v['baseline']}: prevention {v['prevention_delta_pp']:+.2f} pp, "
                         f"false positives {v['false_positive_delta_pp']:+.2f} pp")
    spread = data["slippage_by_spread_tercile"]
    if spread:
        low, high = (f"{e:.2%}" for e in spread["share_edges"])
        lines += ["", f"Mean slippage (¢) by the day's half-spread share of the premium (terciles: < {low}, "
                  f"{low}-{high}, > {high}):", ""]
        lines += [f"- {name}: " + " / ".join("-" if m is None else f"{m:.2f}" for m in means)
                  for name, means in spread["policies"].items()]
    lines += ["", "Plots: kpi_frontier.png (prevention vs false positives), kpi_slippage.png, kpi_moneyness.png.", ""]
    return "\n".join(lines)
