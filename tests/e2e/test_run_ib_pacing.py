"""Many closes at once over the fake IB Gateway: the IB gateway's paced outbox keeps every second under IB's
50 messages (the fake answers error 100 beyond them), every position gets its close, riskiest first."""

from datetime import datetime

from domain.session import EASTERN
from tests.fakes.ib_gateway import FakeContract, FakePosition, GatewayScript, OrderBehaviour
from tests.fakes.ib_gateway.requests import place_order
from tests.support.ib_tree import placed, run_tree

LONG_CALLS = [f"SPY 20261125 {strike}C" for strike in range(560, 640)]  # spot 641: all in the money
SHORT_PUTS = [f"SPY 20261125 {strike}P" for strike in range(642, 682)]


def placements(gateway):
    """The first placeOrder of each order id: a placement (the later ones with its id change its price)."""
    first = {}
    for request in placed(gateway):
        first.setdefault(request.fields[1], request)
    return list(first.values())


def test_120_closes_at_t5_go_out_under_50_a_second_each_once_riskiest_first(tmp_path):
    positions = [FakePosition(FakeContract.option(k), 2, 100.0) for k in LONG_CALLS] + [
        FakePosition(FakeContract.option(k), -1, 100.0) for k in SHORT_PUTS]
    script = GatewayScript(positions=positions, default_behaviour=OrderBehaviour.rest(), max_messages_per_second=50)
    gateway, service = run_tree(tmp_path, script, start=datetime(2026, 11, 25, 15, 54, 58, tzinfo=EASTERN),
                                seconds=240, pause=0.05, until=lambda g, s: len(placements(g)) >= 120)
    refs = [place_order(list(r.fields)).order_ref for r in placements(gateway)]
    closed = [ref.split("-")[3] for ref in refs]  # CLN-20261125-SPY-638C-1: the strike and right
    worst = gateway.max_messages_in_any_second()
    print(f"\n120 closes at T-5: {len(refs)} placements, {len(gateway.received())} messages, most in a second {worst}")
    assert worst <= 50
    assert sorted(closed) == sorted(k.split()[2] for k in LONG_CALLS + SHORT_PUTS)  # each position once
    # all in the money: the shorts first, deepest first (highest put strike), then the longs, deepest first
    assert closed == [k.split()[2] for k in reversed(SHORT_PUTS)] + [k.split()[2] for k in LONG_CALLS]
