"""manual_close: a person's close goes through the policy's guards; every refusal says why in one line."""

from __future__ import annotations

from datetime import timedelta

from domain.manual_close import manual_close
from domain.model import Side
from domain.policy import Close
from domain.stages import Stage, Thresholds
from tests.support.domain_builders import SESSION, at_minutes, contract, option_quote, position, stop

NOW = at_minutes(10)
SHORT_PUT, LONG_PUT = contract(600.0, "P"), contract(595.0, "P")


def ask(held, orders=(), quotes=None, now=NOW, target=SHORT_PUT):
    return manual_close(target, held, list(orders), quotes or {}, now, SESSION, Thresholds(), 30.0)


def test_a_short_is_bought_back_whole_at_the_fresh_quote():
    quote = option_quote(SHORT_PUT, 2.0, NOW - timedelta(seconds=5))
    decision = ask([position(SHORT_PUT, -3)], quotes={SHORT_PUT.key: quote})
    assert isinstance(decision, Close) and decision.manual
    assert (decision.side, decision.quantity, decision.stage) == (Side.BUY, 3, Stage.T30)
    assert (decision.reference_mid, decision.bid, decision.ask) == (quote.mid, quote.bid, quote.ask)


def test_a_stale_quote_is_not_a_reference():
    old = option_quote(SHORT_PUT, 2.0, NOW - timedelta(seconds=31))
    decision = ask([position(SHORT_PUT, -1)], quotes={SHORT_PUT.key: old})
    assert isinstance(decision, Close) and decision.reference_mid is None and decision.bid is None


def test_never_more_than_closing_orders_leave_open():
    decision = ask([position(SHORT_PUT, -3)], orders=[stop(SHORT_PUT, Side.BUY, 2)])
    assert isinstance(decision, Close) and decision.quantity == 1
    assert ask([position(SHORT_PUT, -3)], orders=[stop(SHORT_PUT, Side.BUY, 3)]) == \
        f"{SHORT_PUT.key}: closing orders already cover the position"


def test_nothing_open_nothing_sent():
    assert ask([]) == f"no open position in {SHORT_PUT.key}"
    assert ask([position(SHORT_PUT, 0)]) == f"no open position in {SHORT_PUT.key}"


def test_a_long_that_protects_a_short_is_refused_until_the_short_is_closed():
    spread = [position(SHORT_PUT, -1), position(LONG_PUT, 1)]
    refusal = ask(spread, target=LONG_PUT)
    assert isinstance(refusal, str) and "protects the short" in refusal and SHORT_PUT.key in refusal
    assert isinstance(ask([position(LONG_PUT, 1)], target=LONG_PUT), Close)
