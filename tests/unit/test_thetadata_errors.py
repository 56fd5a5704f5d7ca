"""The Terminal's documented HTTP codes map to feed error kinds; errors are counted and logged once per episode."""

from __future__ import annotations

import logging

import pytest

from domain.feed_errors import FeedErrorKind
from gateways.thetadata.errors import TERMINAL_CODES, ThetaFeedError, error_for_status
from gateways.thetadata.health_log import EpisodeLog


@pytest.mark.parametrize(("status", "name", "kind"), [
    (472, "NO_DATA", FeedErrorKind.NO_DATA),
    (474, "DISCONNECTED", FeedErrorKind.OUTAGE),
    (429, "OS_LIMIT", FeedErrorKind.RATE_LIMITED),
    (471, "PERMISSION", FeedErrorKind.PERMISSION),
    (476, "WRONG_IP", FeedErrorKind.OUTAGE),
    (473, "INVALID_PARAMS", FeedErrorKind.MALFORMED),
    (404, "NO_IMPL", FeedErrorKind.MALFORMED),
    (571, "SERVER_STARTING", FeedErrorKind.OUTAGE),
])
def test_documented_codes(status, name, kind):
    error = error_for_status(status, "  some\n text ", "SPY quote")
    assert (error.code, error.kind, error.status) == (name, kind, status)
    assert str(error).startswith(f"SPY quote: {status} {name}")
    assert "some text" in str(error)


def test_wrong_ip_tells_to_keep_one_host_string():
    assert "same host string" in str(error_for_status(476, "", "SPY quote"))


@pytest.mark.parametrize(("status", "kind"), [(500, FeedErrorKind.OUTAGE), (418, FeedErrorKind.MALFORMED)])
def test_unknown_codes(status, kind):
    assert error_for_status(status, "", "x").kind is kind


def test_every_table_entry_is_consistent():
    for status, code in TERMINAL_CODES.items():
        assert code.status == status and code.advice


def _error(kind=FeedErrorKind.OUTAGE, code="DISCONNECTED") -> ThetaFeedError:
    return ThetaFeedError(kind, code, f"SPY quote: {code}")


def _logged(caplog, steps) -> list[str]:
    """The lines an EpisodeLog writes for ``steps(episodes)``."""
    with caplog.at_level(logging.INFO, logger="test.episodes"):
        steps(EpisodeLog(logging.getLogger("test.episodes")))
    return [record.getMessage() for record in caplog.records]


def test_an_episode_is_logged_once_and_its_end(caplog):
    def steps(episodes):
        for _ in range(5):
            episodes.failure("stock_quote", _error())
        episodes.success("stock_quote")
        episodes.success("stock_quote")

    messages = _logged(caplog, steps)
    assert len(messages) == 2, messages
    assert "DISCONNECTED" in messages[0] and "answers again after 5 failed request(s) (DISCONNECTED)" in messages[1]


def test_a_hang_alternating_timeout_and_busy_is_one_episode(caplog):
    def steps(episodes):
        for _ in range(10):
            episodes.failure("stock_quote", _error(code="TIMEOUT"))
            episodes.failure("stock_quote", _error(code="BUSY"))
        episodes.success("stock_quote")

    messages = _logged(caplog, steps)
    assert len(messages) == 2, messages
    assert "TIMEOUT" in messages[0] and "after 20 failed request(s) (TIMEOUT, BUSY)" in messages[1]


def test_a_change_of_kind_is_logged_once_per_episode(caplog):
    def steps(episodes):
        for _ in range(5):
            episodes.failure("stock_quote", _error())
            episodes.failure("stock_quote", _error(FeedErrorKind.MALFORMED, "MALFORMED_BODY"))

    messages = _logged(caplog, steps)
    assert len(messages) == 2, messages
    assert "MALFORMED_BODY" in messages[1] and "now malformed" in messages[1]


def test_ledger_episodes_are_per_endpoint(caplog):
    ledger = EpisodeLog(logging.getLogger("test.ledger2"))
    with caplog.at_level(logging.INFO, logger="test.ledger2"):
        ledger.failure("stock_quote", _error())
        ledger.failure("bulk_greeks", _error())
        ledger.failure("stock_quote", _error())
    assert len(caplog.records) == 2


def test_permission_is_one_clear_error_for_the_life_of_the_process(caplog):
    ledger = EpisodeLog(logging.getLogger("test.ledger3"))
    with caplog.at_level(logging.INFO, logger="test.ledger3"):
        for _ in range(3):
            ledger.failure("bulk_greeks", _error(FeedErrorKind.PERMISSION, "PERMISSION"))
            ledger.success("bulk_greeks")
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
