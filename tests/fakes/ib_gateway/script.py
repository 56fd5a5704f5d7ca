"""What a test scripts into the fake gateway: the account's starting state and how orders behave."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from tests.fakes.ib_gateway import codes
from tests.fakes.ib_gateway.contracts import FakeContract


class Fill(StrEnum):
    REST = "rest"  # acknowledged, works, never fills (until the test fills it)
    FILL = "fill"  # fills completely at once
    PARTIAL = "partial"  # fills ``quantity`` at once, rests with the remainder
    REJECT = "reject"  # error message, then status Cancelled: IB's way of rejecting


@dataclass(frozen=True)
class Refusal:
    """IB refuses a change to a working order with error(orderId, code, message); the order keeps working as it was.

    ``message`` None: IB's text for the code. ``times`` None: every request is refused; else that many,
    then they go through."""

    code: int
    message: str | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        if self.message is None and not codes.has_order_text(self.code):
            raise ValueError(f"no IB text known for code {self.code}: give the refusal a message")


@dataclass(frozen=True)
class OrderBehaviour:
    kind: Fill = Fill.REST
    price: float | None = None  # fill price; default: the limit, or the quote for market orders
    quantity: int | None = None  # for PARTIAL
    error_code: int = codes.ORDER_REJECTED
    error_message: str = codes.text(codes.ORDER_REJECTED)
    modify_refusal: Refusal | None = None  # placeOrder for this working order (a modification)
    cancel_refusal: Refusal | None = None  # cancelOrder for it

    def refusing_modifications(self, code: int = codes.ORDER_REJECTED, message: str | None = None,
                               times: int | None = None) -> OrderBehaviour:
        """This behaviour, and modifications are refused (201, 104, 161, ...) while the order keeps working."""
        return replace(self, modify_refusal=Refusal(code, message, times))

    def refusing_cancels(self, code: int = codes.NOT_CANCELLABLE, message: str | None = None,
                         times: int | None = None) -> OrderBehaviour:
        """This behaviour, and cancels are refused (161, ...) while the order keeps working."""
        return replace(self, cancel_refusal=Refusal(code, message, times))

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


@dataclass(frozen=True)
class FakeComboLeg:
    """One leg of a combo (BAG) order: the option, its action in the combo, contracts per unit of the combo."""

    contract: FakeContract
    ratio: int
    action: str  # BUY / SELL, as the ComboLeg says (reversed when the combo itself is sold)


@dataclass
class FakeOrder:
    order_id: int
    contract: FakeContract
    action: str  # BUY / SELL
    quantity: int
    order_type: str  # LMT, MKT, STP, STP LMT
    limit_price: float | None = None
    aux_price: float | None = None  # the stop price of STP orders; the trailing amount of TRAIL orders
    order_ref: str = ""
    client_id: int = 17
    perm_id: int = 0
    tif: str = "DAY"
    account: str = ""
    status: str = "Submitted"
    filled: int = 0
    avg_fill_price: float = 0.0
    trail_stop_price: float | None = None  # TRAIL / TRAIL LIMIT: the current stop
    trailing_percent: float | None = None  # TRAIL: the trail as a percentage, instead of aux_price
    limit_offset: float | None = None  # TRAIL LIMIT: lmtPriceOffset
    # Client 0's API id for it: set when client 0 places it, or when IB binds a TWS order to client 0.
    bound_id: int | None = None
    # A combo (``contract`` is the BAG): its legs; ``quantity`` and ``filled`` are then in units of the combo.
    legs: list[FakeComboLeg] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def api_id(self) -> int:
        """The order id IB shows for it: its client's id; for a TWS order, 0 until bound (then negative)."""
        if self.client_id != 0:
            return self.order_id
        return self.bound_id or 0

    @property
    def is_working(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted", "PendingSubmit")


@dataclass(frozen=True)
class QuoteStep:
    """One point of a price path: ``at`` seconds after the gateway starts, ``key`` gets these prices."""

    at: float
    key: str  # an underlying ("SPY", "QQQ", "IWM", "SPX") or an option key like "SPY 20261127 635C"
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
    # Every new order for these contracts (by key) behaves so, before the lists above: e.g. a contract IB
    # refuses every order for, while the others trade.
    contract_behaviours: dict[str, OrderBehaviour] = field(default_factory=dict)
    # Drop the client's connection right after handling the n-th message of this name (e.g. "placeOrder").
    disconnect_after: str | None = None  # (what-if orders never count as "placeOrder" here)
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
    # The data type IB streams an instrument with (default 1, live): 2 frozen, 3 delayed, 4 delayed
    # frozen, as when live data is not available for the type the session asked for.
    market_data_types: dict[str, int] = field(default_factory=dict)
    commission_per_contract: float = 0.65
    next_order_id: int = 1
    # A fill moves the true position at once; reqPositions answers (and pushed position updates)
    # show it only this many seconds later, by the gateway's clock (``FakeIBGateway.use_clock``).
    position_lag_seconds: float = 0.0
    # IB's "Read-Only API" setting: every placeOrder (whatIf too), cancelOrder and client 0's
    # reqAutoOpenOrders is refused with 321 and changes nothing; reads keep working.
    read_only: bool = False
    # Lapse instructions (exerciseOptions, action 2) are taken until this instant (epoch seconds, the
    # gateway's clock); None: always. After it, and for a short or more than held, error 321 (IB's
    # exact wording is not documented; the fake's texts say which rule refused).
    lapse_cutoff: float | None = None
    # Market data IB will not give live: instrument key -> (code, text), sent as error(reqId, code, text)
    # on every reqMktData for it. After 10090/10091 (part not subscribed) IB still streams live ticks,
    # after 10167 delayed ones; after any other code (354, 101, 10197, ...) nothing comes for the request.
    # See ``codes`` for IB's texts.
    market_data_errors: dict[str, tuple[int, str]] = field(default_factory=dict)
    # IB's limit on messages from one client in any sliding second (None: off). Excess messages are
    # answered with error(-1, 100, ...) and dropped; after this many the socket is closed (None: never).
    max_messages_per_second: int | None = None
    rate_limit_disconnect_after: int | None = None
    # Refuse every combo (BAG) order at placement with error 201, then Cancelled, as IB does for a combination it
    # will not route (no combo permission, legs it does not combine, ...). Nothing is placed.
    refuse_combos: bool = False
