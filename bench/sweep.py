"""Threshold sweep behind the "improved setting": the seed policy with other T-2 thresholds, same days.

    python -m bench.sweep --n 1000 --seed 1 --out bench/results/   (seed 1: a tuning seed, not the reporting one)

Only the policy's configurable thresholds change; the generator stays the default one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python bench/sweep.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.metrics import policy_kpis
from bench.policies import system
from bench.runner import run_benchmark
from domain.stages import Thresholds

T2_VALUES = (0.005, 0.003, 0.002, 0.001, 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    policies = [system(f"t2={value:.1%}", Thresholds(t2_moneyness=value, t2_moneyness_long=value), "sweep")
                for value in T2_VALUES]
    result = run_benchmark(args.n, args.seed, policies)
    rows = [policy_kpis(p.name, result.runs[p.name], result.tallies[p.name]) for p in policies]
    lines = ["| T-2 threshold | Prevention | Prevention long / short | Missed positions "
             "| Contracts exercised/assigned | FP rate | FP long / short | FP cost ($) | Closure cost ($) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k in rows:
        lines.append(f"| {k.policy} | {k.exercise_prevention_rate:.2%} | {k.long.exercise_prevention_rate:.2%} / "
                     f"{k.short.exercise_prevention_rate:.2%} | {k.missed} | {k.contracts_exercised_or_assigned} | "
                     f"{k.false_positive_rate:.2%} | {k.long.false_positive_rate:.2%} / "
                     f"{k.short.false_positive_rate:.2%} | {k.false_positive_cost_dollars:,.0f} | "
                     f"{k.closure_cost_dollars:,.0f} |")
    text = f"Threshold sweep, N={args.n}, seed={args.seed} ({result.seconds:.0f} s)\n\n" + "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.md").write_text(text)
    (args.out / "sweep.json").write_text(json.dumps([k.to_dict() for k in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
