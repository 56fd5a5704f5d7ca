"""The KPI benchmark's big day: hundreds of positions in the money, closed at IB's pacing (domain.pacing through
bench/broker.py, the paper broker's helper), and the figure the benchmark reports for it."""

from dataclasses import replace

from bench.generator import WINDOW_SECONDS, GeneratorConfig, generate_days
from bench.kpi import main
from bench.policies import default_policies
from bench.report import big_day, big_day_lines
from bench.runner import run_benchmark
from domain.model import Right

SEED = 11


def test_the_big_day_holds_its_positions_all_in_the_money_and_leaves_the_other_days_as_they_were():
    config = GeneratorConfig(big_day=1)
    plain, with_big = generate_days(3, SEED), generate_days(3, SEED, config)
    assert [d.positions for d in plain[::2]] == [d.positions for d in with_big[::2]]
    big = with_big[1]
    spot = big.spot(WINDOW_SECONDS)
    singles = big.positions[:config.big_day_positions]
    assert len({p.contract for p in singles}) == 500
    assert all((p.contract.strike < spot) if p.contract.right is Right.CALL else (p.contract.strike > spot)
               for p in singles)
    assert big.path == plain[1].path and big.session == plain[1].session  # only the book changed


def test_the_big_day_s_closes_go_out_at_the_rate_and_the_report_says_how_long_they_took():
    policies = [p for p in default_policies() if p.name in ("system (seed)", "ITM at T-5")]
    config = replace(GeneratorConfig(), big_day=0, big_day_positions=120)
    run = run_benchmark(1, SEED, policies=policies, config=config)
    figure = big_day(run)
    assert figure is not None and figure["rate"] == run.messages_per_second == 45
    for name, sent in run.big_day.items():
        gaps = [a - b for a, b in zip(sent, sent[1:], strict=False)]  # seconds before the close: they fall
        assert len(sent) >= 100 and all(gap >= 1 / 45 - 1e-6 for gap in gaps)  # never faster than the rate
        p = figure["policies"][name]
        assert p["closes"] == len(sent) and p["ratio"] >= (len(sent) - 1) / len(sent) - 1e-3
    # the T-5 burst alone takes N / rate: its first close goes out at T-5, its 100th 99 / rate later or more
    t5 = run.big_day["ITM at T-5"]
    assert t5[0] == 300 and t5[0] - t5[99] >= 99 / 45 - 1e-6
    assert any("closes in" in line and "ratio" in line for line in big_day_lines({"big_day": figure}))


def test_the_command_line_has_the_big_day_by_default_and_can_leave_it_out(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("bench.kpi.run_benchmark", lambda n, seed, config: seen.append(config) or
                        run_benchmark(1, seed, policies=default_policies()[:1], config=replace(config, big_day=None)))
    assert main(["--n", "1", "--out", str(tmp_path), "--no-plots"]) == 0
    assert main(["--n", "1", "--out", str(tmp_path), "--no-plots", "--no-big-day"]) == 0
    assert [c.big_day for c in seen] == [0, None] and seen[0].big_day_positions == 500
