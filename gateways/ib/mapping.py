"""Conversions between ib_async objects and the project's domain types. Pure functions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ib_async import Contract, LimitOrder, MarketOrder, Option, Order, Trade
from ib_async import Position as IBPosition
from ib_async.util import UNSET_DOUBLE

from domain.model import OptionContract, OrderType, Position, Right, Side, WorkingOrder
from gateways.broker import OrderRequest

ORDER_TYPES = {t.value: t for t in OrderType}


def to_ib_option(contract: OptionContract, exchange: str = "SMART") -> Option:
    return Option(contract.symbol, f"{contract.expiry:%Y%m%d}", contract.strike, contract.right.value, exchange,
                  multiplier="100", currency="USD", conId=contract.con_id or 0)


def is_option(contract: Contract) -> bool:
    return contract.secType == "OPT"


def from_ib_option(contract: Contract) -> OptionContract:
    expiry = contract.lastTradeDateOrContractMonth[:8]
    return OptionContract(contract.symbol, Right.parse(contract.right), float(contract.strike),
                          date(int(expiry[:4]), int(expiry[4:6]), int(expiry[6:8])), contract.conId or None)


def from_ib_position(item: IBPosition) -> Position:
    multiplier = int(float(item.contract.multiplier or 100))
    # IB reports an option's average cost per contract; the domain keeps it per share.
    return Position(from_ib_option(item.contract), int(item.position), item.avgCost / multiplier, multiplier)


def _price(value: float | Decimal | None) -> float | None:
    """An ib_async order price (typed float | Decimal | None there) as the domain's float."""
    return None if value is None else float(value)


def to_working_order(trade: Trade) -> WorkingOrder:
    order = trade.order
    order_type = ORDER_TYPES.get(order.orderType, OrderType.LIMIT)
    limit = _price(order.lmtPrice) if order.lmtPrice != UNSET_DOUBLE and order_type in (
        OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = _price(order.auxPrice) if order.auxPrice != UNSET_DOUBLE and order_type in (
        OrderType.STOP, OrderType.STOP_LIMIT) else None
    return WorkingOrder(str(order.orderId), from_ib_option(trade.contract), Side(order.action), order_type,
                        int(order.totalQuantity), int(trade.orderStatus.filled), limit, stop,
                        order.orderRef or None)


def to_ib_order(request: OrderRequest, account: str) -> Order:
    common = {"orderRef": request.order_ref, "tif": "DAY", "account": account}
    if request.order_type is OrderType.MARKET:
        return MarketOrder(request.side.value, request.quantity, **common)
    if request.order_type is OrderType.LIMIT and request.limit_price is not None:
        return LimitOrder(request.side.value, request.quantity, request.limit_price, **common)
    raise ValueError(f"closing orders are LMT with a price or MKT, got {request.order_type} {request.limit_price}")
