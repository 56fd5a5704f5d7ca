"""What a test scripts into the fake gateway: the account's starting state and how orders behave."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tests.fakes.ib_gateway.contracts import FakeContract


class Fill(StrEnum):
    REST = "rest"  # acknowledged, works, never fills (until the test fills it)
    FILL = "fill"  # fills completely at once
    PARTIAL = "partial"  # fills ``quantity`` at once, rests with the remainder
    REJECT = "reject"  # error message, then status Cancelled: IB's way of rejecting


@dataclass(frozen=True)
class OrderBehaviour:
    kind: Fill = Fill.REST
    price: float | None = None  # fill price; default: the limit, or the quote for market orders
    quantity: int | None = None  # for PARTIAL
    error_code: int = 201
    error_message: str = "Order rejected - reason:The contract is not available for trading"

    @classmethod
    def rest(cls) -> OrderBehaviour:
        return cls(Fill.REST)

    @classmethod
    def fill(cls, price: float | None = None) -> OrderBehaviour:
        return cls(Fill.FILL, price)

    @classmethod
    def partial(cls, quantity: int, price: float | None = None) -> OrderBehaviour:
        return cls(Fill.PARTIAL, price, quantity)

    @classmethod
    def reject(cls, code: int = 201, message: str | None = None) -> OrderBehaviour:
        return cls(Fill.REJECT, error_code=code, error_message=message or cls.error_message)


@dataclass
class FakePosition:
    contract: FakeContract
    quantity: int
    avg_cost: float = 0.0  # per contract, as IB reports it (price x multiplier)


@dataclass
class FakeOrder:
    order_id: int
    contract: FakeContract
    action: str  # BUY / SELL
    quantity: int
    order_type: str  # LMT, MKT, STP, STP LMT
    limit_price: float | None = None
    aux_price: float | None = None  # the stop price of STP orders
    order_ref: str = ""
    client_id: int = 17
    perm_id: int = 0
    tif: str = "DAY"
    account: str = ""
    status: str = "Submitted"
    filled: int = 0
    avg_fill_price: float = 0.0

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def is_working(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted", "PendingSubmit")


@dataclass(frozen=True)
class QuoteStep:
    """One point of a price path: ``at`` seconds after the gateway starts, ``key`` gets these prices."""

    at: float
    key: str  # "SPY" or an option key like "SPY 20261127 635C"
    bid: float
    ask: float
    last: float | None = None
    implied_vol: float | None = None


@dataclass
class GatewayScript:
    account: str = "DU1234567"
    positions: list[FakePosition] = field(default_factory=list)
    open_orders: list[FakeOrder] = field(default_factory=list)
    # Behaviours for new orders, consumed in the order the orders arrive; then ``default_behaviour``.
    order_behaviours: list[OrderBehaviour] = field(default_factory=list)
    default_behaviour: OrderBehaviour = field(default_factory=OrderBehaviour.rest)
    # Drop the client's connection right after handling the n-th message of this name (e.g. "placeOrder").
    disconnect_after: str | None = None
    disconnect_after_count: int = 1
    # Connectivity codes (1100, 1101, 1102, 2110) sent right after the API starts, as IB Gateway does
    # when a client connects while the gateway itself is still (re)connecting to IB's servers.
    codes_on_connect: list[int] = field(default_factory=list)
    # Requests received but never answered (by name, e.g. "reqAllOpenOrders"): a hung gateway.
    unanswered: frozenset[str] = frozenset()
    price_path: list[QuoteStep] = field(default_factory=list)
    # A live market keeps ticking (sizes, the same prices again), so IB quotes stay fresh: every
    # quote is sent again this often (wall seconds). None: a frozen market, each quote sent once.
    tick_every: float | None = 0.05
    # Market data IB will not give live: instrument key -> (code, text), sent as error(reqId, code, text)
    # on every reqMktData for it. After 10090/10091 (part not subscribed) IB still streams live ticks,
    # after 10167 delayed ones; after any other code (354, 101, 10197, ...) nothing comes for the request.
    market_data_errors: dict[str, tuple[int, str]] = field(default_factory=dict)
    # The data type IB streams an instrument with (default 1, live): 2 frozen, 3 delayed, 4 delayed
    # frozen, as when live data is not available for the type the session asked for.
    market_data_types: dict[str, int] = field(default_factory=dict)
    commission_per_contract: float = 0.65
    next_order_id: int = 1
