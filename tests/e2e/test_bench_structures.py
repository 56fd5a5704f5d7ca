"""The KPI benchmark's spreads: the generator builds them in a stream of their own, the bench broker fills a
combo whole or not at all (``domain.execution.combo_fill``), the engine places a structure's close as one
combo order walked on its net, and the naked-legs KPI counts what it says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.broker import BenchBroker, ComboOrder, OurOrder
from bench.engine import DayRun, PositionRun, _View, naked_contracts
from bench.generator import GeneratorConfig, generate_days
from bench.market import DayMarket
from bench.policies import default_policies
from bench.runner import benchmark_settings
from domain.execution import ComboLegQuote, combo_fill, combo_net, price_at
from domain.model import OptionContract, OrderType, Position, Right, Side, WorkingOrder
from domain.policy import Close
from domain.settlement import Outcome
from domain.stages import Stage
from domain.structures import StructureKind, group_structures

SEED = 11
NO_REJECTS = GeneratorConfig(reject_rate=0.0)


def _day_with(positions: tuple[Position, ...]):
    day = generate_days(1, SEED)[0]
    return replace(day, positions=positions, orders=(), stale={}, structures=())


def _vertical(day) -> tuple[Position, Position]:
    spot = round(day.spot(600))
    long = OptionContract("SPY", Right.CALL, float(spot - 2), day.session.day)
    short = OptionContract("SPY", Right.CALL, float(spot + 1), day.session.day)
    return Position(long, 3), Position(short, -3)


def test_the_generator_adds_spreads_without_changing_the_singles():
    config = GeneratorConfig()
    without = generate_days(30, SEED, replace(config, structures_max=0))
    with_spreads = generate_days(30, SEED, config)
    for plain, day in zip(without, with_spreads, strict=True):
        assert day.positions[:len(plain.positions)] == plain.positions and day.orders == plain.orders
        assert len({p.contract for p in day.positions}) == len(day.positions)  # no contract twice
    kinds = {kind for day in with_spreads for kind in day.structures}
    assert kinds == {"vertical", "iron condor", "butterfly"}
    positions = sum(len(day.positions) for day in with_spreads)
    in_verticals = sum(len({leg.contract for s in group_structures(day.positions)
                            if s.kind is StructureKind.VERTICAL for leg in s.legs}) for day in with_spreads)
    assert 0.2 < in_verticals / positions < 0.45  # about a third (bench/README.md)


def test_singles_of_one_right_share_a_sign_so_they_do_not_pair_by_chance():
    for day in generate_days(30, SEED, GeneratorConfig(structures_max=0)):
        assert not [s for s in group_structures(day.positions) if s.kind is StructureKind.VERTICAL]


def test_the_bench_broker_fills_a_combo_whole_or_not_at_all():
    day = _day_with(())
    day = replace(day, positions=_vertical(day))
    market = DayMarket(day)
    broker = BenchBroker(day, market, NO_REJECTS, rejects=True)
    long, short = day.positions
    legs = []
    combo = ComboOrder("combo.1", legs, (1, 1), 3, -99.0, 600, 0, 600, final=False)
    for i, (position, side) in enumerate(((long, Side.SELL), (short, Side.BUY))):
        order = WorkingOrder("combo.1", position.contract, side, OrderType.LIMIT, 3, limit_price=-99.0, combo=True)
        legs.append(OurOrder(i, order, 600, None, None, None, 0, 600, False, combo=combo))
    assert broker.process(599, legs) == []  # a $99 credit: never
    assert broker.positions == list(day.positions)
    combo.priced_again(None, 9, 599, final=True)
    assert broker.process(599, legs) == []  # the fill delay starts again
    quotes = tuple(ComboLegQuote(leg.order.side, 1, *market.book(leg.order.contract, 598)) for leg in legs)
    fills = broker.process(598, legs)
    assert [(f.index, f.side, f.quantity, f.price) for f in fills] == [
        (0, Side.SELL, 3, combo_fill(quotes, None)[0]), (1, Side.BUY, 3, combo_fill(quotes, None)[1])]
    assert [p.quantity for p in broker.positions] == [0, 0]


def test_the_engine_places_a_structure_close_as_one_combo_walked_on_its_net():
    day = _day_with(())
    day = replace(day, positions=_vertical(day))
    policy = next(p for p in default_policies() if p.name == "system (seed)")
    settings = benchmark_settings()
    run = DayRun(day, DayMarket(day), policy, settings, NO_REJECTS)
    seconds = 240
    closes = []
    for position in day.positions:
        bid, mid, ask = run.market.book(position.contract, seconds)
        closes.append(Close(position.contract, position.closing_side, 3, Stage.T5, "test", mid, bid, ask))
    view = _View({p.contract: p for p in day.positions}, {}, set())
    run._close_combo(closes, seconds, view)
    assert [o.order.order_id for o in run.orders] == ["combo.1", "combo.1"] and run.combos == 1
    combo = run.orders[0].combo
    assert combo is not None and combo.units == 3 and combo.ratios == (1, 1)
    expected = combo_net((c.side, 1, price_at(c.side, c.reference_mid, c.bid, c.ask, 0, settings).limit)
                         for c in closes)
    assert combo.limit == pytest.approx(expected, abs=0.006)
    assert all(o.order.combo and o.order.limit_price == combo.limit and o.order.quantity == 3 for o in run.orders)
    run._close_combo(closes, seconds, view)  # our combo works on these contracts: nothing more
    assert run.combos == 1
    for now in range(seconds - 1, 0, -1):  # walked to market at the latest in the last call: it fills
        run._process(now)
        run._walk(now)
        if not run.orders:
            break
    assert [p.quantity for p in run.broker.positions] == [0, 0]
    assert all(sum(q for q, _, _ in fills) == 3 for fills in run.fills)
    assert combo.used >= 1 and run.attempts == [0, 0]  # the combo's own budget: its legs' contracts keep theirs


def _run(position: Position, outcome: Outcome, counterfactual: Outcome, closed: int = 0, lapsed: int = 0,
         kind: str = "vertical") -> PositionRun:
    return PositionRun(0, position, outcome, counterfactual, closed, lapsed=lapsed, structure=kind)


def test_naked_contracts_count_a_short_assigned_after_its_long_was_sold_or_lapsed():
    day = generate_days(1, SEED)[0].session.day
    long = Position(OptionContract("SPY", Right.CALL, 595.0, day), 2)
    short = Position(OptionContract("SPY", Right.CALL, 600.0, day), -2)
    sold = [_run(long, Outcome.CLOSED, Outcome.EXERCISED, closed=2), _run(short, Outcome.ASSIGNED, Outcome.ASSIGNED)]
    assert naked_contracts(sold, [replace(long, quantity=0), short]) == 2
    lapsed = [_run(long, Outcome.LAPSED, Outcome.EXERCISED, lapsed=2), _run(short, Outcome.ASSIGNED, Outcome.ASSIGNED)]
    assert naked_contracts(lapsed, [long, short]) == 2
    alone = [_run(long, Outcome.EXERCISED, Outcome.EXERCISED), _run(short, Outcome.ASSIGNED, Outcome.ASSIGNED)]
    assert naked_contracts(alone, [long, short]) == 0  # exercise covers the assignment
    closed = [_run(long, Outcome.CLOSED, Outcome.EXERCISED, closed=2), _run(short, Outcome.CLOSED, Outcome.ASSIGNED,
                                                                         closed=2)]
    assert naked_contracts(closed, [replace(long, quantity=0), replace(short, quantity=0)]) == 0


def test_naked_contracts_count_shares_delivered_where_left_alone_none_would_be():
    day = generate_days(1, SEED)[0].session.day
    long = Position(OptionContract("SPY", Right.CALL, 595.0, day), 1)
    short = Position(OptionContract("SPY", Right.CALL, 600.0, day), -1)
    # SPY above 600: left alone the exercise covers the assignment; with the short bought back and the long
    # left, it is exercised into 100 shares the account did not have
    runs = [_run(long, Outcome.EXERCISED, Outcome.EXERCISED), _run(short, Outcome.CLOSED, Outcome.ASSIGNED,
                                                                    closed=1)]
    assert naked_contracts(runs, [long, replace(short, quantity=0)]) == 1
    # SPY between the strikes: left alone it delivers 100 shares anyway; no naked leg by closing the short
    runs = [_run(long, Outcome.EXERCISED, Outcome.EXERCISED), _run(short, Outcome.CLOSED, Outcome.EXPIRED_OTM,
                                                                    closed=1)]
    assert naked_contracts(runs, [long, replace(short, quantity=0)]) == 0


def test_a_split_position_is_one_lot_whichever_part_was_closed():
    day = generate_days(1, SEED)[0].session.day
    long = Position(OptionContract("SPY", Right.PUT, 520.0, day), 5)
    short = Position(OptionContract("SPY", Right.PUT, 519.0, day), -1)
    # 4 of the 5 longs (the single part) sold; the one left is exercised as the short is assigned: no net delivery
    runs = [_run(long, Outcome.EXERCISED, Outcome.EXERCISED, closed=4), _run(short, Outcome.ASSIGNED, Outcome.ASSIGNED)]
    assert naked_contracts(runs, [replace(long, quantity=1), short]) == 0
    # all 5 sold: the short's 100 shares are delivered where, left alone, 400 would have gone the other way: less
    runs = [_run(long, Outcome.CLOSED, Outcome.EXERCISED, closed=5), _run(short, Outcome.ASSIGNED, Outcome.ASSIGNED)]
    assert naked_contracts(runs, [replace(long, quantity=0), short]) == 0
    # a short split between a spread and a single part, the single part assigned after the spread closed whole
    short = Position(OptionContract("SPY", Right.CALL, 506.0, day), -10)
    long = Position(OptionContract("SPY", Right.CALL, 515.0, day), 2)
    runs = [_run(short, Outcome.ASSIGNED, Outcome.ASSIGNED, closed=2), _run(long, Outcome.CLOSED, Outcome.EXERCISED,
                                                                             closed=2)]
    assert naked_contracts(runs, [replace(short, quantity=-8), replace(long, quantity=0)]) == 0  # a miss, not naked
