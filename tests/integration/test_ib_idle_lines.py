"""IdleLines: which subscriptions nobody asked for in a few polls, counted in polls (rounds), not seconds."""

from gateways.ib.idle_lines import IdleLines


def test_a_contract_left_out_of_three_polls_is_idle_once():
    lines = IdleLines(idle_polls=3)
    assert lines.asked(["SPY"]) == [] and lines.asked(["C", "P"]) == []  # poll 1: the underlying, the options
    assert lines.asked(["SPY"]) == [] and lines.asked(["C"]) == []  # poll 2: P's position went away
    assert lines.asked(["SPY"]) == [] and lines.asked(["C"]) == []  # poll 3
    assert lines.asked(["SPY"]) == ["P"]  # poll 4 begins: P missed polls 2, 3 and 4
    assert lines.asked(["C"]) == [] and lines.asked(["SPY"]) == []  # said once


def test_polls_are_rounds_whatever_the_number_of_underlyings_asked_for_in_one():
    lines = IdleLines(idle_polls=2)
    for _ in range(10):  # each tick: two underlyings one by one, then the contracts
        assert lines.asked(["SPY"]) == [] and lines.asked(["QQQ"]) == [] and lines.asked(["C"]) == []


def test_asking_again_keeps_a_line_and_an_idle_one_asked_for_later_starts_afresh():
    lines = IdleLines(idle_polls=2)
    lines.asked(["SPY", "C"])
    lines.asked(["SPY"])
    assert lines.asked(["SPY"]) == ["C"]
    assert lines.asked(["C"]) == []  # joins this poll: a new subscription, counted from now
    assert lines.asked(["SPY"]) == []
    assert lines.asked(["SPY"]) == ["C"]


def test_no_poll_without_requests_makes_anything_idle():
    lines = IdleLines(idle_polls=1)
    lines.asked(["SPY"])
    assert lines.asked([]) == []
