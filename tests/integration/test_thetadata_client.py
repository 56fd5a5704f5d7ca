"""The Terminal clients (v2 and v3) against the fake Terminal over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.feed_errors import FeedError, FeedErrorKind
from domain.model import OptionContract, Right
from domain.session import EASTERN
from gateways.thetadata import ThetaDataPriceSource, ThetaFeedError, V2Client, V3Client, connect
from runtime.clock import VirtualClock
from tests.fakes.theta_terminal import FakeThetaTerminal, option_prices

START = datetime(2026, 11, 27, 12, 55, tzinfo=EASTERN)  # T-5 of an early-close day
EXPIRY = date(2026, 11, 27)
TIMEOUT = 0.3


@pytest.fixture
def clock():
    return VirtualClock(START)


@pytest.fixture
def terminal(clock):
    with FakeThetaTerminal(clock=clock.now, spy=636.0, strikes=[630.0, 635.0, 636.0, 640.0],
                           underlyings={"QQQ": 512.5, "IWM": 221.0}) as fake:
        yield fake


@pytest.fixture(params=["v2", "v3"])
def client(request, terminal):
    made = connect(terminal.url_v2 if request.param == "v2" else terminal.url_v3, TIMEOUT)
    assert made.version == request.param
    yield made
    made.close()


def _raises(call, kind: FeedErrorKind) -> ThetaFeedError:
    with pytest.raises(ThetaFeedError) as caught:
        call()
    assert caught.value.kind is kind, caught.value
    return caught.value


def test_connect_chooses_by_url_path():
    assert isinstance(connect("http://127.0.0.1:25510/v2", 1), V2Client)
    assert isinstance(connect("http://127.0.0.1:25503/v3", 1), V3Client)
    assert isinstance(connect("http://127.0.0.1:25503/V3/", 1), V3Client)


def test_stock_quote_carries_the_terminal_clock_and_price(client, terminal, clock):
    clock.advance(1.5)
    terminal.set_spy(637.25)
    quote = client.stock_quote("SPY")
    assert quote.at == clock.now()
    assert quote.mid == pytest.approx(637.25)
    assert quote.source == "thetadata"


def test_bulk_option_quotes_and_implied_vols(client, terminal):
    quotes = client.option_quotes("SPY", EXPIRY)
    assert (terminal.count("bulk_option_quote"), terminal.count("option_quote")) == (1, 0)
    assert len(quotes) == 8
    itm_call = quotes["SPY 20261127 630C"]
    assert itm_call.bid > 6 and itm_call.ask > itm_call.bid
    vols = client.implied_vols("SPY", EXPIRY)
    assert vols["SPY 20261127 636C"] == pytest.approx(0.15)


def test_single_contract_quote_sends_the_versions_strike_format(client, terminal):
    quote = client.option_quote(OptionContract("SPY", Right.PUT, 640.0, EXPIRY))
    assert quote.instrument == "SPY 20261127 640P" and quote.bid > 3.5
    assert (terminal.count("option_quote"), terminal.count("bulk_option_quote")) == (1, 0)
    _, query = terminal.requests[-1]
    if client.version == "v2":
        assert (query["strike"], query["right"], query["exp"]) == ("640000", "P", "20261127")
    else:
        assert (query["strike"], query["right"], query["expiration"]) == ("640.000", "put", "20261127")


def test_price_source_merges_iv_and_returns_only_the_held_contracts(client):
    source = ThetaDataPriceSource(client)
    held = [OptionContract("SPY", Right.CALL, 635.0, EXPIRY), OptionContract("SPY", Right.PUT, 640.0, EXPIRY),
            OptionContract("SPY", Right.CALL, 900.0, EXPIRY)]
    quotes = source.option_quotes(held)
    assert set(quotes) == {"SPY 20261127 635C", "SPY 20261127 640P"}
    assert quotes["SPY 20261127 635C"].implied_vol == pytest.approx(0.152)
    assert source.name == "thetadata"
    assert source.underlying_quote("SPY").instrument == "SPY"


def test_other_underlyings_are_quoted_under_their_own_root(client, terminal, clock):
    source = ThetaDataPriceSource(client)
    clock.advance(2.0)
    qqq, iwm = source.underlying_quote("QQQ"), source.underlying_quote("IWM")
    assert (qqq.instrument, qqq.mid, qqq.at) == ("QQQ", pytest.approx(512.5), clock.now())
    assert (iwm.instrument, iwm.mid) == ("IWM", pytest.approx(221.0))
    _, query = terminal.requests[-1]
    assert query["root" if client.version == "v2" else "symbol"] == "IWM"
    held = [OptionContract("IWM", Right.PUT, 222.0, EXPIRY), OptionContract("QQQ", Right.CALL, 510.0, EXPIRY),
            OptionContract("SPY", Right.CALL, 635.0, EXPIRY)]
    quotes = source.option_quotes(held)
    assert set(quotes) == {c.key for c in held}
    # priced from each root's own price: on SPY's 636 the 222 put would be worth nothing
    assert quotes["IWM 20261127 222P"].bid == option_prices(221.0, 222.0, "P")[0] > 1.0
    assert quotes["QQQ 20261127 510C"].bid == option_prices(512.5, 510.0, "C")[0] > 2.5
    _raises(lambda: client.stock_quote("XYZ"), FeedErrorKind.NO_DATA)


def test_price_source_keeps_quotes_when_only_iv_lacks_permission(client, terminal):
    terminal.fail(471, "bulk_greeks")
    quotes = ThetaDataPriceSource(client).option_quotes([OptionContract("SPY", Right.CALL, 635.0, EXPIRY)])
    assert quotes["SPY 20261127 635C"].implied_vol is None
    assert terminal.count("bulk_greeks") == 1  # asked once, refused: the quotes still came


@pytest.mark.parametrize(("status", "kind", "code"), [
    (472, FeedErrorKind.NO_DATA, "NO_DATA"),
    (474, FeedErrorKind.OUTAGE, "DISCONNECTED"),
    (429, FeedErrorKind.RATE_LIMITED, "OS_LIMIT"),
    (471, FeedErrorKind.PERMISSION, "PERMISSION"),
    (476, FeedErrorKind.OUTAGE, "WRONG_IP"),
])
def test_terminal_error_codes(client, terminal, status, kind, code):
    terminal.fail(status)
    error = _raises(lambda: client.stock_quote("SPY"), kind)
    assert (error.code, error.status) == (code, status)
    terminal.heal()
    assert client.stock_quote("SPY").mid == pytest.approx(636.0)


def test_permission_names_the_subscription(client, terminal):
    terminal.fail(471, "stock_quote")
    error = _raises(lambda: client.stock_quote("SPY"), FeedErrorKind.PERMISSION)
    assert "stocks subscription" in str(error)
    terminal.fail(471, "bulk_greeks")
    assert "options Standard" in str(_raises(lambda: client.implied_vols("SPY", EXPIRY), FeedErrorKind.PERMISSION))


def test_malformed_body(client, terminal):
    terminal.malformed("bulk_option_quote")
    _raises(lambda: client.option_quotes("SPY", EXPIRY), FeedErrorKind.MALFORMED)
    assert client.stock_quote("SPY")  # other endpoints unaffected


def test_outage_is_connection_refused_and_recovery_works(client, terminal):
    terminal.outage()
    error = _raises(lambda: client.stock_quote("SPY"), FeedErrorKind.OUTAGE)
    assert error.code == "CONNECTION_REFUSED"
    assert "not reachable" in str(error)
    terminal.recover()
    assert client.stock_quote("SPY").mid == pytest.approx(636.0)


def test_closed_port_is_an_outage_not_a_crash():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(f"http://127.0.0.1:{port}/v2", TIMEOUT)
    assert _raises(lambda: client.stock_quote("SPY"), FeedErrorKind.OUTAGE).code == "CONNECTION_REFUSED"


def test_frozen_terminal_keeps_serving_the_same_timestamp(client, terminal, clock):
    terminal.freeze()
    first = client.stock_quote("SPY")
    clock.advance(10)
    terminal.set_spy(640.0)
    later = client.stock_quote("SPY")
    assert later.at == first.at and later.mid == first.mid
    assert later.age_seconds(clock.now()) == pytest.approx(10)


def test_a_hang_never_delays_the_caller_beyond_the_timeout(client, terminal):
    terminal.hang("stock_quote")
    started = time.monotonic()
    error = _raises(lambda: client.stock_quote("SPY"), FeedErrorKind.OUTAGE)
    elapsed = time.monotonic() - started
    assert error.code == "TIMEOUT"
    # Measured against the timeout: it waited for it, and not much longer (the fake hangs 30 s).
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT * 1.5 + 0.1
    assert client.option_quotes("SPY", EXPIRY)  # another endpoint is not blocked by the hanging one


def test_one_request_in_flight_per_endpoint(client, terminal):
    terminal.hang("stock_quote")
    outcomes: list[str] = []

    def poll() -> None:
        try:
            client.stock_quote("SPY")
            outcomes.append("ok")
        except FeedError as error:
            outcomes.append(error.code)

    first = threading.Thread(target=poll)
    first.start()
    deadline = time.monotonic() + TIMEOUT
    while terminal.count("stock_quote") == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert terminal.count("stock_quote") == 1
    started = time.monotonic()
    others = [threading.Thread(target=poll) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join()
    busy_elapsed = time.monotonic() - started
    first.join()
    assert sorted(outcomes) == ["BUSY"] * 4 + ["TIMEOUT"]
    assert busy_elapsed < TIMEOUT / 2  # BUSY answers at once instead of queueing behind the hang
    assert terminal.count("stock_quote") == 1 and terminal.max_in_flight[
        "/v2/snapshot/stock/quote" if client.version == "v2" else "/v3/stock/snapshot/quote"] == 1
    terminal.heal()
    time.sleep(TIMEOUT)  # the abandoned worker ends at its own read timeout
    assert client.stock_quote("SPY").mid == pytest.approx(636.0)


def test_errors_are_logged_once_per_episode(client, terminal, caplog):
    terminal.fail(474)
    with caplog.at_level(logging.INFO, logger="gateways.thetadata"):
        for _ in range(5):
            _raises(lambda: client.stock_quote("SPY"), FeedErrorKind.OUTAGE)
        terminal.heal()
        client.stock_quote("SPY")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "DISCONNECTED" in messages[0] and "answers again after 5" in messages[1]


def test_only_feed_errors_escape_whatever_the_terminal_does(client, terminal):
    faults = {"outage": FakeThetaTerminal.outage, "500": lambda t: t.fail(500), "404": lambda t: t.fail(404),
              "malformed": FakeThetaTerminal.malformed, "570": lambda t: t.fail(570)}
    for name, fault in faults.items():
        fault(terminal)
        for call in (lambda: client.stock_quote("SPY"), lambda: client.option_quotes("SPY", EXPIRY),
                     lambda: client.implied_vols("SPY", EXPIRY)):
            with pytest.raises(FeedError):
                call()
        terminal.heal()
        if name == "outage":
            terminal.recover()
        assert client.stock_quote("SPY").mid == pytest.approx(636.0), name  # cleared before the next fault


def test_wall_clock_fake_stamps_now():
    with FakeThetaTerminal() as fake:
        quote = connect(fake.url_v2, TIMEOUT).stock_quote("SPY")
    assert abs(quote.age_seconds(datetime.now(UTC))) < 5
    assert quote.at.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
