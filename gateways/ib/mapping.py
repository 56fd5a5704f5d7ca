"""Conversions between ib_async objects and the project's domain types. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from ib_async import ComboLeg, Contract, LimitOrder, MarketOrder, Option, Order, Trade
from ib_async import Position as IBPosition
from ib_async.util import UNSET_DOUBLE

from domain.model import OptionContract, OrderType, Position, Right, Side, StockPosition, WorkingOrder
from gateways.broker import ComboRequest, OrderRequest

ORDER_TYPES = {t.value: t for t in OrderType}
BAG = "BAG"  # IB's security type of a combo; IB reports every BAG with the conId of its spread template


@dataclass(frozen=True)
class Leg:
    """One leg of a combo as IB holds it: the (qualified) option, its action in the combo, contracts per unit."""

    contract: OptionContract
    action: Side
    ratio: int


def to_ib_option(contract: OptionContract, exchange: str = "SMART") -> Option:
    return Option(contract.symbol, f"{contract.expiry:%Y%m%d}", contract.strike, contract.right.value, exchange,
                  multiplier="100", currency="USD", conId=contract.con_id or 0)


def is_option(contract: Contract) -> bool:
    return contract.secType == "OPT"


def is_stock(contract: Contract) -> bool:
    return contract.secType == "STK"


def from_ib_stock(item: IBPosition) -> StockPosition:
    return StockPosition(item.contract.symbol, int(item.position), float(item.avgCost))


def is_combo(contract: Contract) -> bool:
    return contract.secType == BAG


def to_ib_combo(legs: Sequence[Leg]) -> Contract:
    """The BAG contract of a combo: one ``ComboLeg`` per leg, by conId (the legs must be qualified), each with its
    own action; routed SMART like the single orders."""
    if any(not leg.contract.con_id for leg in legs):
        raise ValueError("combo legs need their conIds (qualify them first)")
    return Contract(secType=BAG, symbol=legs[0].contract.symbol, currency="USD", exchange="SMART",
                    comboLegs=[ComboLeg(conId=leg.contract.con_id or 0, ratio=leg.ratio, action=leg.action.value,
                                        exchange="SMART") for leg in legs])


def to_ib_combo_order(request: ComboRequest, account: str) -> Order:
    """The order of a combo: always BUY (each leg's own action is its closing side), in units; a limit is the net
    per unit, negative for a credit (IB takes negative prices for combos)."""
    common = {"orderRef": request.order_ref, "tif": "DAY", "account": account}
    if request.order_type is OrderType.MARKET:
        return MarketOrder("BUY", request.quantity, **common)
    if request.order_type is OrderType.LIMIT and request.limit_price is not None:
        return LimitOrder("BUY", request.quantity, request.limit_price, **common)
    raise ValueError(f"combos are LMT with a net or MKT, got {request.order_type} {request.limit_price}")


def combo_working_orders(trade: Trade, legs: Sequence[Leg], client_id: int) -> list[WorkingOrder]:
    """A working BAG order as one WorkingOrder per leg (same ids and ref; the leg's side, reversed when the combo
    is sold; ``ratio x units`` contracts), so each position counts what the combo may still close of it."""
    base = to_working_order(trade, client_id, legs[0].contract)
    sold = trade.order.action == Side.SELL.value
    units, filled = int(trade.order.totalQuantity), int(trade.orderStatus.filled)
    return [replace(base, contract=leg.contract, side=leg.action.opposite if sold else leg.action,
                    quantity=leg.ratio * units, filled=leg.ratio * filled, combo=True) for leg in legs]


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


def to_working_order(trade: Trade, client_id: int, contract: OptionContract | None = None) -> WorkingOrder:
    """The order as this client (``client_id``) may treat it: IB lets only the placing client change an order,
    and a TWS order only once client 0 has bound it (it then has an order id other than 0)."""
    order = trade.order
    order_type = ORDER_TYPES.get(order.orderType, OrderType.OTHER)
    limit = _price(order.lmtPrice) if order.lmtPrice != UNSET_DOUBLE and order_type in (
        OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_LIMIT) else None
    stop = _stop_price(order, order_type)
    modifiable = order.orderId != 0 and order.clientId == client_id
    return WorkingOrder(str(order.orderId), contract or from_ib_option(trade.contract), Side(order.action), order_type,
                        int(order.totalQuantity), int(trade.orderStatus.filled), limit, stop,
                        order.orderRef or None, broker_type=order.orderType, client_id=order.clientId,
                        perm_id=order.permId or None, modifiable=modifiable,
                        owner=_owner(order.orderId, order.clientId, client_id))


def _stop_price(order: Order, order_type: OrderType) -> float | None:
    if order_type in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT):
        trail = order.trailStopPrice
        return _price(trail) if trail not in (None, UNSET_DOUBLE) else None
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and order.auxPrice != UNSET_DOUBLE:
        return _price(order.auxPrice)
    return None


def _owner(order_id: int, placed_by: int, client_id: int) -> str:
    if order_id == 0:
        return "TWS (placed by hand, not bound to an API client)"
    if placed_by == client_id:
        return "this service's client id" if placed_by else "TWS, bound to client id 0"
    return "TWS" if placed_by == 0 else f"API client {placed_by}"


def to_ib_order(request: OrderRequest, account: str) -> Order:
    return day_order(request.side, request.quantity, request.order_type, request.limit_price, request.order_ref,
                     account, "closing orders")


def day_order(side: Side, quantity: int, order_type: OrderType, limit_price: float | None, order_ref: str | None,
              account: str, what: str) -> Order:
    """A DAY order for IB: a limit at its price or a market order; ``what`` names them in the refusal."""
    common = {"orderRef": order_ref, "tif": "DAY", "account": account}
    if order_type is OrderType.MARKET:
        return MarketOrder(side.value, quantity, **common)
    if order_type is OrderType.LIMIT and limit_price is not None:
        return LimitOrder(side.value, quantity, limit_price, **common)
    raise ValueError(f"{what} are LMT with a price or MKT, got {order_type} {limit_price}")
