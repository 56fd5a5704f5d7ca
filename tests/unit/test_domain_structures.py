"""Grouping expiring positions into structures (domain/structures.py): pure, property-tested."""

import random

from hypothesis import given
from hypothesis import strategies as st

from domain.model import Position
from domain.structures import StructureKind, group_structures
from tests.support.domain_builders import contract, position

LONG_595C, SHORT_600C = position(contract(595, "C"), 5), position(contract(600, "C"), -5)


def kinds(structures):
    return [s.kind for s in structures]


def test_a_debit_call_spread_is_one_vertical_whose_legs_are_partners():
    (spread,) = group_structures([SHORT_600C, LONG_595C])
    assert spread.kind is StructureKind.VERTICAL
    assert spread.partners(LONG_595C.contract) == (SHORT_600C.contract,)
    assert spread.partners(SHORT_600C.contract) == (LONG_595C.contract,)


def test_the_spread_delivers_shares_only_between_its_strikes():
    (spread,) = group_structures([LONG_595C, SHORT_600C])
    assert spread.delivery(590) == 0 and spread.delivery(598) == 500 and spread.delivery(605) == 0
    assert [band.text() for band in spread.delivery_profile()] == ["below 595: +0", "595-600: +500", "above 600: +0"]
    assert spread.delivery_between(600.5, 610) == (0, 0)
    assert spread.delivery_between(599, 601) == (0, 500)


def test_unequal_legs_split_into_a_vertical_and_a_single():
    structures = group_structures([position(contract(595, "C"), 5), position(contract(600, "C"), -3)])
    assert {s.kind: [leg.quantity for leg in s.legs] for s in structures} == {
        StructureKind.VERTICAL: [3, -3], StructureKind.SINGLE: [2]}


def test_a_short_is_matched_to_the_nearest_long_and_on_a_tie_to_the_one_covering_it():
    structures = group_structures([position(contract(595, "C"), 1), position(contract(605, "C"), 1),
                                   position(contract(600, "C"), -1)])
    vertical = next(s for s in structures if s.kind is StructureKind.VERTICAL)
    assert {leg.contract.strike for leg in vertical.legs} == {595, 600}


def test_iron_condor_butterfly_straddle_strangle_and_covered_are_named():
    condor = [position(contract(580, "P"), 2), position(contract(585, "P"), -2),
              position(contract(610, "C"), -2), position(contract(615, "C"), 2)]
    assert kinds(group_structures(condor)) == [StructureKind.IRON_CONDOR]
    fly = [position(contract(595, "C"), 1), position(contract(600, "C"), -2), position(contract(605, "C"), 1)]
    (butterfly,) = group_structures(fly)
    assert butterfly.kind is StructureKind.BUTTERFLY and butterfly.delivery(600) == 100 and butterfly.delivery(610) == 0
    assert kinds(group_structures([position(contract(600, "C"), 1), position(contract(600, "P"), 1)])) == \
        [StructureKind.STRADDLE]
    assert kinds(group_structures([position(contract(610, "C"), -1), position(contract(590, "P"), -1)])) == \
        [StructureKind.STRANGLE]
    (covered,) = group_structures([position(contract(610, "C"), -2)], shares={"SPY": 300})
    assert covered.kind is StructureKind.COVERED and covered.shares == 200
    assert kinds(group_structures([position(contract(610, "C"), -4)], shares={"SPY": 300})) == [StructureKind.SINGLE]


def test_symbols_and_expiries_are_never_mixed():
    other = position(contract(600, "C", symbol="QQQ"), -5)
    assert kinds(group_structures([LONG_595C, other])) == [StructureKind.SINGLE, StructureKind.SINGLE]


strikes = st.sampled_from([580, 585, 590, 595, 600, 605, 610])
books = st.lists(st.tuples(strikes, st.sampled_from("CP"), st.integers(-6, 6).filter(bool)), max_size=8)


def _positions(book) -> list[Position]:
    merged: dict = {}
    for strike, right, quantity in book:
        merged[contract(strike, right)] = merged.get(contract(strike, right), 0) + quantity
    return [position(c, q) for c, q in merged.items() if q]


@given(books, st.randoms())
def test_every_contract_is_split_exactly_and_the_grouping_ignores_order(book, rnd: random.Random):
    positions = _positions(book)
    structures = group_structures(positions)
    totals: dict = {}
    for structure in structures:
        for leg in structure.legs:
            assert leg.quantity != 0
            totals[leg.contract] = totals.get(leg.contract, 0) + leg.quantity
    assert totals == {p.contract: p.quantity for p in positions}
    shuffled = list(positions)
    rnd.shuffle(shuffled)
    assert group_structures(shuffled) == structures


@given(books, st.floats(570, 620))
def test_the_structures_deliver_together_what_the_positions_deliver(book, settlement):
    positions = _positions(book)
    structures = group_structures(positions)
    alone = sum(s.delivery(settlement) for p in positions for s in group_structures([p]))
    assert sum(s.delivery(settlement) for s in structures) == alone


@given(books)
def test_a_short_with_a_long_partner_is_only_partnered_within_its_right(book):
    for structure in group_structures(_positions(book)):
        for leg in structure.legs:
            for partner in structure.partners(leg.contract):
                assert partner.right is leg.contract.right
                mate = next(x for x in structure.legs if x.contract == partner)
                assert (mate.quantity < 0) != (leg.quantity < 0)
