"""The Executor's combo orders as it keeps them between messages (``ExecutorState.combos``): each with its
legs, what each leg's executions filled, and the net limit working. Copied whole for the keeper."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.execution import ComboLegPrice
from domain.model import OptionContract, OrderType, Side, WorkingOrder


@dataclass
class ComboLegState:
    contract: OptionContract
    side: Side
    ratio: int
    reference_mid: float | None
    bid: float | None
    ask: float | None
    avg_cost: float = 0.0
    filled: int = 0  # contracts whose executions are in

    def price(self) -> ComboLegPrice:
        return ComboLegPrice(self.side, self.ratio, self.reference_mid, self.bid, self.ask)


@dataclass
class OwnCombo:
    order_id: str
    order_ref: str
    name: str  # the structure's
    legs: list[ComboLegState]
    units: int
    limit: float | None  # the net per unit now working; None: a market order
    attempt: int
    priced_at: datetime
    stage: str
    reason: str
    final: bool = False
    ambiguous: bool = False
    ended_at: datetime | None = None
    filled_units: int = 0  # as the broker's status says
    # Prices sent for this combo: its own budget of ``max_attempts``, never its legs' contracts' (the rest of a
    # position split between a spread and a single leg must keep the attempts of its own close).
    used: int = 0

    @property
    def contracts(self) -> tuple[OptionContract, ...]:
        return tuple(leg.contract for leg in self.legs)

    def leg(self, contract: OptionContract) -> ComboLegState | None:
        return next((leg for leg in self.legs if leg.contract == contract), None)

    def working_orders(self) -> tuple[WorkingOrder, ...]:
        """One per leg, as the broker lists a combo: what counts against each leg's position."""
        kind = OrderType.MARKET if self.limit is None else OrderType.LIMIT
        return tuple(WorkingOrder(self.order_id, leg.contract, leg.side, kind,
                                  max(leg.ratio * (self.filled_units if self.ended_at else self.units), leg.filled),
                                  filled=leg.filled, limit_price=self.limit, order_ref=self.order_ref, combo=True)
                     for leg in self.legs)

    @property
    def done(self) -> bool:
        return self.ended_at is not None and all(leg.filled >= leg.ratio * self.filled_units for leg in self.legs)

    def copy(self) -> OwnCombo:
        return replace(self, legs=[replace(leg) for leg in self.legs])


@dataclass
class ComboBook:
    """The combo part of the Executor's state (``ExecutorState.combos``)."""

    working: dict[str, OwnCombo] = field(default_factory=dict)  # order id -> ours, until ended and executed
    unresolved: dict[str, tuple[datetime, OwnCombo]] = field(default_factory=dict)  # ref -> placed, outcome unknown
    refused: set[str] = field(default_factory=set)  # structures the broker takes no combo for: legs one by one

    def copy(self) -> ComboBook:
        return ComboBook({k: v.copy() for k, v in self.working.items()},
                         {k: (since, v.copy()) for k, (since, v) in self.unresolved.items()}, set(self.refused))

    def blocked(self) -> set[OptionContract]:
        """Contracts with a combo of ours working, awaiting fills, or of unknown outcome: nothing new for them."""
        return {c for combo in self.working.values() for c in combo.contracts} | \
            {c for _, combo in self.unresolved.values() for c in combo.contracts}

    def working_orders(self) -> tuple[WorkingOrder, ...]:
        return tuple(order for combo in self.working.values() for order in combo.working_orders())

    def find(self, order_id: str, order_ref: str | None) -> OwnCombo | None:
        found = self.working.get(order_id)
        if found is not None or not order_ref:
            return found
        return next((c for c in self.working.values() if c.order_ref == order_ref), None)
