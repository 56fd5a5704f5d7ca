"""PNG plots of a KPI run (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.metrics import AT_RISK, PolicyKpis, slippages_cents  # noqa: E402
from bench.report import TARGETS  # noqa: E402
from bench.runner import BenchRun  # noqa: E402
from domain.settlement import Outcome  # noqa: E402

# Moneyness bins at T-5 (fractions): the band the policy's thresholds live in, finer near the strike.
BINS = np.array([-0.04, -0.02, -0.01, -0.005, -0.002, 0.0, 0.002, 0.005, 0.01, 0.02, 0.04])


def write_all(run: BenchRun, kpis: list[PolicyKpis], out: Path) -> list[Path]:
    return [frontier(kpis, out / "kpi_frontier.png"), slippage(run, out / "kpi_slippage.png"),
            moneyness(run, out / "kpi_moneyness.png")]


def frontier(kpis: list[PolicyKpis], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    for k in kpis:
        ax.scatter(k.false_positive_rate * 100, k.exercise_prevention_rate * 100, s=60)
        ax.annotate(k.policy, (k.false_positive_rate * 100, k.exercise_prevention_rate * 100),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axhline(TARGETS["exercise_prevention_rate"] * 100, color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(TARGETS["false_positive_rate"] * 100, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("false positive rate (%): closed positions that would have expired OTM")
    ax.set_ylabel("exercise prevention rate (%)")
    ax.set_title("Prevention vs false positives (dashed: issue 17's targets)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def slippage(run: BenchRun, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    series = {p.name: slippages_cents(run.runs[p.name]) for p in run.policies}
    series = {name: values for name, values in series.items() if values.size}
    high = max((float(np.percentile(v, 99.5)) for v in series.values()), default=10.0)
    edges = np.linspace(min(0.0, min((float(v.min()) for v in series.values()), default=0.0)), max(high, 1.0), 40)
    for name, values in series.items():
        ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, histtype="step", linewidth=1.4,
                label=f"{name} (mean {values.mean():.2f} ¢)")
    ax.axvline(TARGETS["mean_slippage_cents"], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("slippage per contract vs reference mid (cents per share)")
    ax.set_ylabel("contracts")
    ax.set_title(f"Closing slippage distribution (dashed: {TARGETS['mean_slippage_cents']:g} ¢ target for the mean)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def moneyness(run: BenchRun, path: Path) -> Path:
    """Per moneyness bin at T-5: how often leaving it would end in exercise, and what each policy closed."""
    fig, ax = plt.subplots(figsize=(8, 5))
    centers = np.arange(len(BINS) - 1)
    any_runs = run.runs[run.policies[0].name]
    slot = np.clip(np.digitize([r.moneyness_t5 for r in any_runs], BINS) - 1, 0, len(BINS) - 2)
    at_risk = np.array([r.counterfactual in AT_RISK for r in any_runs])
    counts = np.bincount(slot, minlength=len(centers))
    share = np.bincount(slot, weights=at_risk, minlength=len(centers)) / np.maximum(counts, 1)
    ax.bar(centers, share * 100, color="lightgrey", label="left alone: exercised/assigned (%)")
    for policy in run.policies:
        runs = run.runs[policy.name]
        closed = np.array([r.outcome is Outcome.CLOSED for r in runs])
        ax.plot(centers, np.bincount(slot, weights=closed, minlength=len(centers)) / np.maximum(counts, 1) * 100,
                marker="o", markersize=3, linewidth=1, label=f"{policy.name}: closed (%)")
    labels = [f"{BINS[i]:+.1%}..{BINS[i + 1]:+.1%}\n(n={counts[i]})" for i in centers]
    ax.set_xticks(centers, labels, fontsize=6, rotation=45)
    ax.set_xlabel("moneyness at T-5")
    ax.set_ylabel("% of positions")
    ax.set_title("Outcome by moneyness at T-5")
    ax.legend(fontsize=6, loc="upper left")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
