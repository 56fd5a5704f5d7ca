"""Small builders for domain values used across tests."""

from datetime import date, datetime, timedelta

from domain.model import OptionContract, OrderType, Position, Quote, Right, Side, WorkingOrder
from domain.policy import Mode, PolicyInput
from domain.session import EASTERN, ExpirySession

DAY = date(2026, 11, 25)
CLOSE = datetime(2026, 11, 25, 16, 0, tzinfo=EASTERN)
SESSION = ExpirySession(DAY, CLOSE, CLOSE)


def contract(strike: float, right: str = "C", expiry: date = DAY) -> OptionContract:
    return OptionContract("SPY", Right.parse(right), strike, expiry)


def at_minutes(minutes_before_close: float) -> datetime:
    return CLOSE - timedelta(minutes=minutes_before_close)


def spot_quote(price: float, now: datetime) -> Quote:
    return Quote("SPY", price - 0.01, price + 0.01, price, now, "test")


def option_quote(c: OptionContract, mid: float, now: datetime, spread: float = 0.04) -> Quote:
    return Quote(c.key, mid - spread / 2, mid + spread / 2, mid, now, "test", implied_vol=0.15)


def stop(c: OptionContract, side: Side, quantity: int, order_id: str = "s1", ref: str | None = None) -> WorkingOrder:
    return WorkingOrder(order_id, c, side, OrderType.STOP, quantity, stop_price=1.0, order_ref=ref)


def inputs(positions, spot: float, minutes: float, mode: Mode = Mode.ACTIVE, orders=(), quotes=None,
           spot_age: float = 0.0) -> PolicyInput:
    now = at_minutes(minutes)
    option_quotes = quotes if quotes is not None else {
        p.contract.key: option_quote(p.contract, 1.0, now) for p in positions}
    return PolicyInput(
        positions=list(positions),
        working_orders=list(orders),
        spot=spot_quote(spot, now - timedelta(seconds=spot_age)),
        option_quotes=option_quotes,
        now=now,
        session=SESSION,
        mode=mode,
    )


def position(c: OptionContract, quantity: int) -> Position:
    return Position(c, quantity, avg_cost=1.0)
