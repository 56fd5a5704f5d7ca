"""KPI benchmark: N simulated expiration afternoons, every policy on the same days.

    python -m bench.kpi [--n 1000] [--seed 20261127] [--out bench/results/] [--no-plots] [--big-day I | --no-big-day]

Writes kpi.md, kpi.json and the PNG plots to --out; prints the table and the run time. Deterministic
for a seed. A held-out seed: ``python -m bench.kpi --seed 7 --out /tmp/held-out`` (the table names its
seed, and kpi.md ends with the ranking to compare). One day of the run (``--big-day``, day 0 by default) holds
500 positions, all in the money: the output gives, per policy, the seconds from its first to its last close sent
at IB's pacing and their ratio to N / rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python bench/kpi.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses import replace

from bench.generator import GeneratorConfig
from bench.report import big_day_lines, leg_table, markdown_table, write
from bench.runner import run_benchmark

DEFAULT_SEED = 20261127  # a fixed seed: committed results are reproducible


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KPI benchmark of the closure policy against baselines")
    parser.add_argument("--n", type=int, default=1000, help="simulated expiration afternoons (default 1000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"generator seed (default {DEFAULT_SEED}, the reporting seed; any other is held out)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs (no matplotlib needed)")
    parser.add_argument("--big-day", type=int, default=0, metavar="I",
                        help="the day (index) holding 500 positions, all in the money (default 0)")
    parser.add_argument("--no-big-day", action="store_true", help="no big day: every day as the generator draws it")
    args = parser.parse_args(argv)
    config = replace(GeneratorConfig(), big_day=None if args.no_big_day else args.big_day)
    run = run_benchmark(args.n, args.seed, config=config)
    kpis, data = write(run, args.out)
    if not args.no_plots:
        from bench.plots import write_all  # matplotlib only when plotting

        write_all(run, kpis, args.out)
    print(markdown_table(kpis, args.n, args.seed))
    print()
    print(leg_table(kpis))
    print(f"\nRanking: {' > '.join(data['ranking'])}")
    if data["big_day"]:
        print("\n" + "\n".join(big_day_lines(data)))
    print(f"{args.n} days, seed {args.seed}, {data['seconds']} s; results in {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
