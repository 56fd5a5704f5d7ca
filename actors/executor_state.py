"""What the Executor keeps between messages (and across a restart, through the supervisor's keeper).

The keeper gets a copy made after a message was handled in full (``ExecutorState.copy``), never the
live object: a crash half way through a message must not leave its replacement a half-written state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from actors.executor_combo_state import ComboBook
from domain.book import Book
from domain.model import OptionContract, Position, WorkingOrder
from domain.order_refs import is_cleanup_ref


@dataclass
class OwnOrder:
    """One of our orders (or a trader's stop we converted): followed until it ended and every fill is in."""

    order: WorkingOrder  # ``filled`` counts the executions taken in, nothing else
    reference_mid: float | None
    bid: float | None
    ask: float | None
    stage: str
    reason: str
    priced_at: datetime
    attempt: int  # index of the price now working on the walk
    avg_cost: float = 0.0
    final: bool = False  # a market order: nothing left to walk
    ambiguous: bool = False  # the broker's word on it is awaited: not walked meanwhile
    ended_at: datetime | None = None  # when the broker said it ended (filled, cancelled); executions may follow
    pending_refusal: str = ""  # a change IB refused: a failure once IB shows the order still working
    inferred: int = 0  # contracts IB's status reported filled before their executions came
    commission: float = 0.0  # the order's commission already in the audit trail

    @property
    def awaiting_executions(self) -> int:
        return self.order.remaining


@dataclass
class Unresolved:
    """A placement whose outcome is unknown: it may be working at the broker under ``own.order.order_ref``."""

    since: datetime
    own: OwnOrder  # as it would be followed if it turns out placed (order id unknown until then)


@dataclass
class BatchView:
    """The book computed once per batch of decisions, working orders indexed by contract.

    Rebuilding it for every close made a batch of N closes cost N^2 (1.6 s p99 at 500 positions).
    """

    positions: dict[OptionContract, Position]
    working: dict[OptionContract, list[WorkingOrder]]
    own_contracts: set[OptionContract]

    @classmethod
    def of(cls, book: Book, own: dict[str, OwnOrder], combos: set[OptionContract] | None = None) -> BatchView:
        """``combos``: the legs of our combo orders, working or of unknown outcome (``ComboBook.blocked``)."""
        working: dict[OptionContract, list[WorkingOrder]] = {}
        for order in book.working_orders():
            working.setdefault(order.contract, []).append(order)
        return cls({p.contract: p for p in book.effective_positions()}, working,
                   {o.order.contract for o in own.values()} | (combos or set()))


@dataclass
class ExecutorState:
    own: dict[str, OwnOrder] = field(default_factory=dict)  # order id -> ours, until ended and fully executed
    attempts: dict[OptionContract, int] = field(default_factory=dict)  # prices sent, per contract
    failures: dict[OptionContract, int] = field(default_factory=dict)  # refusals, per contract
    given_up: set[OptionContract] = field(default_factory=set)  # too many refusals: left to a person
    sequence: dict[OptionContract, int] = field(default_factory=dict)
    handled_orders: dict[str, WorkingOrder] = field(default_factory=dict)  # trader orders converted or cancelled
    refusals: set[tuple[OptionContract, str]] = field(default_factory=set)
    book: Book = field(default_factory=Book)
    unresolved: dict[OptionContract, Unresolved] = field(default_factory=dict)
    unsettled_handled: dict[str, datetime] = field(default_factory=dict)  # trader order id -> outcome unknown since
    finished: dict[str, OwnOrder] = field(default_factory=dict)  # ours, done: a late commission may follow
    foreign_ours: set[str] = field(default_factory=set)  # refs of our orders of another client id, said once
    combos: ComboBook = field(default_factory=ComboBook)  # our combo orders (actors/executor_combos.py)

    def copy(self) -> ExecutorState:
        """A copy sharing nothing mutable with this one (OwnOrders are copied, frozen values shared)."""
        return ExecutorState(
            own={k: replace(v) for k, v in self.own.items()}, attempts=dict(self.attempts),
            failures=dict(self.failures), given_up=set(self.given_up), sequence=dict(self.sequence),
            handled_orders=dict(self.handled_orders), refusals=set(self.refusals), book=self.book,
            unresolved={k: Unresolved(v.since, replace(v.own)) for k, v in self.unresolved.items()},
            unsettled_handled=dict(self.unsettled_handled),
            finished={k: replace(v) for k, v in self.finished.items()}, foreign_ours=set(self.foreign_ours),
            combos=self.combos.copy())

    def forgive(self, contract: OptionContract) -> None:
        """Count a contract's refusals and attempts afresh: a person asked to try it again."""
        self.given_up.discard(contract)
        self.failures.pop(contract, None)
        self.attempts.pop(contract, None)
        self.refusals = {r for r in self.refusals if r[0] != contract}

    def own_orders(self) -> tuple[WorkingOrder, ...]:
        return tuple(own.order for own in self.own.values()) + self.combos.working_orders()

    def find(self, order_id: str, order_ref: str | None) -> OwnOrder | None:
        """Ours by id, or by our orderRef (an order adopted or re-read under an id we did not know)."""
        found = self.own.get(order_id) or self.finished.get(order_id)
        if found is not None or not is_cleanup_ref(order_ref):
            return found
        return next((o for o in (*self.own.values(), *self.finished.values()) if o.order.order_ref == order_ref),
                    None)
