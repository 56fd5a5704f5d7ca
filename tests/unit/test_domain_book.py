"""The book rules the Executor trades on: which snapshot is current, and what is certainly still open."""

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.book import Book, OwnFill, certain_quantity, over_close, snapshot_is_current
from domain.model import OrderType, Position, Side, WorkingOrder
from domain.policy import closable_quantity
from domain.session import EASTERN
from tests.support.domain_builders import contract

RECONNECTED = datetime(2026, 11, 25, 15, 55, 10, tzinfo=EASTERN)
T0 = datetime(2026, 11, 25, 15, 55, 0, tzinfo=EASTERN)
CALL = contract(638, "C")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def held(quantity: int) -> tuple[Position, ...]:
    return (Position(CALL, quantity, 1.8),) if quantity else ()


def sold(quantity: int, seconds: float, fill_id: str = "e1") -> OwnFill:
    return OwnFill(fill_id, CALL, Side.SELL, quantity, at(seconds))


def open_quantity(book: Book) -> int:
    return sum(p.quantity for p in book.effective_positions() if p.contract == CALL)


def test_a_snapshot_read_during_the_current_connection_is_current():
    assert snapshot_is_current(RECONNECTED, RECONNECTED)
    assert snapshot_is_current(RECONNECTED + timedelta(seconds=1), RECONNECTED)


def test_a_snapshot_read_before_the_reconnect_is_not():
    # e.g. the trader closed the position by hand in TWS during the outage: it is not in this snapshot
    assert not snapshot_is_current(RECONNECTED - timedelta(microseconds=1), RECONNECTED)


def test_nothing_is_current_while_disconnected_or_before_the_first_read():
    assert not snapshot_is_current(RECONNECTED, None)
    assert not snapshot_is_current(None, RECONNECTED)


# --- what is certainly still open ----------------------------------------------------------------------
def test_a_read_that_lags_our_fill_does_not_bring_the_position_back():
    book = Book().with_snapshot(held(2), (), at(0)).with_fill(sold(2, 1))
    assert open_quantity(book) == 0
    book = book.with_snapshot(held(2), (), at(3))  # read after the fill, still showing it open: IB lags
    assert open_quantity(book) == 0
    book = book.with_snapshot((), (), at(6))  # the read catches up
    assert open_quantity(book) == 0 and book.unseen == ()


def test_a_read_that_shows_the_fill_settles_it_and_is_then_believed():
    book = Book().with_snapshot(held(4), (), at(0)).with_fill(sold(2, 1))
    book = book.with_snapshot(held(2), (), at(3))
    assert book.unseen == () and open_quantity(book) == 2


def test_a_read_showing_part_of_the_fills_settles_that_part():
    book = Book().with_snapshot(held(5), (), at(0)).with_fill(sold(1, 1, "e1")).with_fill(sold(2, 2, "e2"))
    book = book.with_snapshot(held(4), (), at(3))  # the first fill only
    assert [f.fill_id for f in book.unseen] == ["e2"] and open_quantity(book) == 2


def test_a_fill_older_than_the_lag_bound_is_taken_as_shown_whatever_the_read():
    # the trader bought 2 more by hand meanwhile, so no read ever matches the fill alone
    book = Book().with_snapshot(held(2), (), at(0)).with_fill(sold(2, 1))
    book = book.with_snapshot(held(2), (), at(30), lag_seconds=60)
    assert open_quantity(book) == 0
    book = book.with_snapshot(held(2), (), at(62), lag_seconds=60)
    assert open_quantity(book) == 2 and book.unseen == ()


def test_the_same_execution_reported_twice_counts_once():
    book = Book().with_snapshot(held(4), (), at(0)).with_fill(sold(2, 1)).with_fill(sold(2, 1))
    assert open_quantity(book) == 2


def test_the_certain_quantity_is_the_one_nearer_zero_and_never_crosses_it():
    assert certain_quantity(4, -1) == 3 and certain_quantity(-4, 1) == -3
    assert certain_quantity(2, -3) == 0 and certain_quantity(-2, 5) == 0  # more filled than read: nothing left
    assert certain_quantity(2, 1) == 2  # an opening fill never makes more to close
    assert certain_quantity(0, -2) == 0


def trader_order(filled: int = 0, quantity: int = 2, perm_id: int = 77) -> WorkingOrder:
    return WorkingOrder("0", CALL, Side.SELL, OrderType.LIMIT, quantity, filled, limit_price=9.0, client_id=0,
                        perm_id=perm_id, modifiable=False, owner="TWS")


def test_a_fill_of_the_traders_order_seen_in_the_order_list_counts_before_the_read_shows_it():
    book = Book().with_snapshot(held(4), (trader_order(),), at(0))
    book = book.with_snapshot(held(4), (trader_order(filled=1),), at(2))  # positions lag the order's fill
    assert open_quantity(book) == 3


def test_a_traders_closing_order_gone_from_the_list_may_have_filled_until_a_read_says():
    book = Book().with_snapshot(held(4), (trader_order(),), at(0))
    book = book.with_snapshot(held(4), (), at(2))
    assert open_quantity(book) == 2  # filled or cancelled: not known yet, so not ours to close
    book = book.with_snapshot(held(4), (), at(70))
    assert open_quantity(book) == 4


def test_an_order_whose_end_the_broker_confirmed_is_not_taken_as_filled():
    order = trader_order()
    book = Book().with_snapshot(held(4), (order,), at(0)).with_order_ended(order, filled=0, at=at(1))
    book = book.with_snapshot(held(4), (), at(2))
    assert open_quantity(book) == 4  # cancelled with nothing filled: all of it is ours to close, at once


def test_a_confirmed_end_with_fills_counts_those_fills():
    order = trader_order()
    book = Book().with_snapshot(held(4), (order,), at(0)).with_order_ended(order, filled=1, at=at(1))
    assert open_quantity(book.with_snapshot(held(4), (), at(2))) == 3


def test_own_orders_replace_their_listing_by_order_ref():
    listed = WorkingOrder("5", CALL, Side.SELL, OrderType.LIMIT, 2, 0, 3.0, order_ref="CLN-20261125-SPY-638C-1",
                          client_id=17)
    other_client = WorkingOrder("5", CALL, Side.SELL, OrderType.LIMIT, 1, 0, 9.0, client_id=23, modifiable=False)
    ours = WorkingOrder("5", CALL, Side.SELL, OrderType.LIMIT, 2, 1, 3.1, order_ref="CLN-20261125-SPY-638C-1")
    book = Book().with_snapshot(held(4), (listed, other_client), at(0)).with_own_orders([ours])
    assert sorted((o.remaining, o.limit_price) for o in book.working_orders()) == [(1, 3.1), (1, 9.0)]


def test_our_order_leaving_the_list_after_its_fill_came_as_an_execution_is_no_second_fill():
    """Found by the benchmark: once the Executor dropped an order it had followed to its end, the next read
    took its absence for a fill of another order, and the fill counted twice (10 held, 5 sold: none left)."""
    ref = "CLN-20261125-SPY-638C-1"
    ours = WorkingOrder("5", CALL, Side.SELL, OrderType.LIMIT, 5, 0, 3.0, order_ref=ref)
    book = Book().with_snapshot(held(10), (), at(0)).with_own_orders([ours]).with_snapshot(held(10), (ours,), at(1))
    book = book.with_fill(sold(5, 2)).with_own_orders([])
    assert open_quantity(book.with_snapshot(held(10), (), at(3))) == 5  # the read lags the fill
    assert open_quantity(book.with_snapshot(held(5), (), at(3))) == 5


def test_a_converted_stop_of_the_traders_is_followed_by_its_executions_too():
    stop = WorkingOrder("9", CALL, Side.SELL, OrderType.STOP, 2, stop_price=1.0, client_id=0, perm_id=77)
    market = WorkingOrder("9", CALL, Side.SELL, OrderType.MARKET, 2, client_id=0, perm_id=77)
    book = Book().with_snapshot(held(6), (stop,), at(0)).with_own_orders([market])
    book = book.with_fill(sold(2, 1)).with_own_orders([])
    assert open_quantity(book.with_snapshot(held(4), (), at(2))) == 4


def test_offsetting_unseen_fills_do_not_make_a_lagging_read_certain():
    """Found by the benchmark: the trader's buy limit (+3) and his stop (-3) both gone from the list, the read
    showing only the first: netted, the 6 read looked certain and closing 6 of 3 flipped the position."""
    stop = trader_order(quantity=3, perm_id=1)
    buy = WorkingOrder("2", CALL, Side.BUY, OrderType.LIMIT, 3, limit_price=1.0, client_id=0, perm_id=2)
    book = Book().with_snapshot(held(3), (stop, buy), at(0))
    book = book.with_snapshot(held(6), (), at(2))
    assert open_quantity(book) == 3


def test_a_read_that_fits_two_counts_of_fills_both_ways_shows_the_fewer():
    """Found by the benchmark: the trader's buy (+3) found gone in a read that already showed it, then our
    sells of 1 and 2; the next read, lagging them, still said 3. Taken as showing all three fills, it made
    the 3 certain while none was left, and selling them opened a short."""
    buy = WorkingOrder("2", CALL, Side.BUY, OrderType.LIMIT, 3, limit_price=1.0, client_id=0, perm_id=2)
    book = Book().with_snapshot(held(3), (buy,), at(0)).with_fill(sold(3, 1, "e0"))  # we closed all 3
    book = book.with_snapshot(held(3), (), at(100))  # then the trader's buy filled: 3 again, and shown
    assert open_quantity(book) == 3
    book = book.with_fill(sold(1, 101, "e1")).with_fill(sold(2, 102, "e2"))
    assert open_quantity(book.with_snapshot(held(3), (), at(103))) == 0


# --- the last guard -------------------------------------------------------------------------------------
def test_the_guard_refuses_what_would_open_or_flip_a_position():
    assert over_close(Side.SELL, 2, 2, 2, 0) == ""
    assert over_close(Side.SELL, 2, 2, 2, 1) != ""  # one of ours still works
    assert over_close(Side.SELL, 2, 2, 1, 0) != ""  # the broker's own read shows less
    assert over_close(Side.BUY, 1, 2, 2, 0) != ""  # would add to a long
    assert over_close(Side.SELL, 1, 2, -2, 0) != ""  # the read says short: never sell
    assert over_close(Side.BUY, 3, -3, -3, 0) == ""


# --- property: sizing from the book never over-closes, however the reads lag ---------------------------
@settings(max_examples=300, deadline=None)
@given(start=st.integers(1, 20), lags=st.lists(st.integers(0, 15), min_size=40, max_size=40),
       fill_delays=st.lists(st.integers(0, 4), min_size=40, max_size=40),
       outcomes=st.lists(st.sampled_from(["fill", "split", "reject"]), min_size=40, max_size=40))
def test_closes_sized_from_the_book_never_flip_the_position_and_end_flat(start, lags, fill_delays, outcomes):
    """A world where IB's reads lag fills by 0-15 s and orders fill 0-4 s after they are sent (at once, in two
    executions, or not at all: rejected): each second the service sizes a close from the book, as the Executor
    does; it must never sell more than was held, and must end up closing all of it. (A read never shows an
    older state than the read before it: IB's positions lag, they do not go back.)"""
    true_history = [(at(-1), start)]  # (when, true position from then on)
    book = Book().with_snapshot(held(start), (), at(-1))
    working: dict[str, tuple[int, str, WorkingOrder]] = {}  # ref -> (due second, outcome, order)
    sold_total, fills, seen_at = 0, 0, at(-1)
    # 40 seconds of the world as drawn, then 20 calm ones (reads current, orders filling) to see it end flat
    lags, fill_delays, outcomes = lags + [0] * 20, fill_delays + [0] * 20, outcomes + ["fill"] * 20
    for second in range(60):
        for ref, (due, outcome, order) in list(working.items()):
            if due > second:
                continue
            parts = [] if outcome == "reject" else [order.remaining] if outcome == "fill" or order.remaining == 1 \
                else [1]
            for quantity in parts:
                fills += 1
                sold_total += quantity
                true_history.append((at(second), start - sold_total))
                book = book.with_fill(OwnFill(f"e{fills}", CALL, Side.SELL, quantity, at(second)))
                order = WorkingOrder(order.order_id, CALL, Side.SELL, OrderType.MARKET, order.quantity,
                                     order.filled + quantity, order_ref=ref)
            if order.remaining == 0 or outcome == "reject":
                del working[ref]
            else:
                working[ref] = (second + 1, "fill", order)
        seen_at = max(seen_at, at(second - lags[second]))
        reported = [q for when, q in true_history if when <= seen_at][-1]
        orders = [order for _, _, order in working.values()]
        book = book.with_own_orders(orders).with_snapshot(held(reported), (), at(second))
        position = next((p for p in book.effective_positions() if p.contract == CALL), None)
        quantity = closable_quantity(position, book.working_orders()) if position else 0
        if quantity > 0:
            ref = f"CLN-20261125-SPY-638C-{second}"
            working[ref] = (second + fill_delays[second], outcomes[second],
                            WorkingOrder(f"o{second}", CALL, Side.SELL, OrderType.MARKET, quantity, order_ref=ref))
        assert sold_total + sum(o.remaining for _, _, o in working.values()) <= start  # never short, whatever fills
    assert sold_total == start and not working  # and it closes all of it
