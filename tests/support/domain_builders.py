"""Small builders for domain values used across tests."""

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from domain.mode import Mode
from domain.model import OptionContract, OrderType, Position, Quote, Right, Side, WorkingOrder
from domain.policy import PolicyInput
from domain.session import EASTERN, ExpirySession

DAY = date(2026, 11, 25)
CLOSE = datetime(2026, 11, 25, 16, 0, tzinfo=EASTERN)
SESSION = ExpirySession(DAY, CLOSE, CLOSE)


def contract(strike: float, right: str = "C", expiry: date = DAY, symbol: str = "SPY") -> OptionContract:
    return OptionContract(symbol, Right.parse(right), strike, expiry)


def at_minutes(minutes_before_close: float) -> datetime:
    return CLOSE - timedelta(minutes=minutes_before_close)


def spot_quote(price: float, now: datetime, symbol: str = "SPY") -> Quote:
    return Quote(symbol, price - 0.01, price + 0.01, price, now, "test")


def option_quote(c: OptionContract, mid: float, now: datetime, spread: float = 0.04) -> Quote:
    return Quote(c.key, mid - spread / 2, mid + spread / 2, mid, now, "test", implied_vol=0.15)


def stop(c: OptionContract, side: Side, quantity: int, order_id: str = "s1", ref: str | None = None) -> WorkingOrder:
    return WorkingOrder(order_id, c, side, OrderType.STOP, quantity, stop_price=1.0, order_ref=ref)


def inputs(positions, spot: float, minutes: float, mode: Mode = Mode.ACTIVE, orders=(), quotes=None,
           spot_age: float = 0.0, others: Mapping[str, tuple[float, float]] | None = None,
           **settings: float) -> PolicyInput:
    """SPY at ``spot``, ``spot_age`` seconds old; ``others`` maps more symbols to (price, age)."""
    now = at_minutes(minutes)
    option_quotes = quotes if quotes is not None else {
        p.contract.key: option_quote(p.contract, 1.0, now) for p in positions}
    prices = {"SPY": (spot, spot_age), **(others or {})}
    return PolicyInput(
        positions=list(positions),
        working_orders=list(orders),
        spots={symbol: spot_quote(price, now - timedelta(seconds=age), symbol)
               for symbol, (price, age) in prices.items()},
        option_quotes=option_quotes,
        now=now,
        session=SESSION,
        mode=mode,
        **settings,
    )


def position(c: OptionContract, quantity: int) -> Position:
    return Position(c, quantity, avg_cost=1.0)
