"""The account's positions, and what IB reports of them: position reads lag fills.

IB's position reads (reqPositions answers and the position updates it pushes) trail fills by
seconds. The fake keeps the true position (moved at once by a fill) and the changes not yet
visible; a change becomes visible ``lag`` seconds after it happened, by the gateway's clock.
Pure state: the caller passes the time and sends what ``due`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.ib_gateway.contracts import FakeContract
from tests.fakes.ib_gateway.script import FakePosition


@dataclass(frozen=True)
class _Change:
    at: float  # epoch seconds
    con_id: int
    delta: int


class PositionBook:
    def __init__(self, positions: list[FakePosition], lag_seconds: float) -> None:
        self.lag = lag_seconds
        self.true: dict[int, FakePosition] = {p.contract.con_id: p for p in positions}
        self._hidden: list[_Change] = []  # changes not yet pushed to position subscribers

    def move(self, contract: FakeContract, delta: int, price: float, at: float) -> None:
        position = self.true.setdefault(contract.con_id, FakePosition(contract, 0, price * 100))
        position.quantity += delta
        self._hidden.append(_Change(at, contract.con_id, delta))

    def reported(self, con_id: int, now: float) -> int:
        """The quantity a position read at ``now`` shows: the changes of the last ``lag`` seconds left out."""
        position = self.true.get(con_id)
        if position is None:
            return 0
        unseen = sum(c.delta for c in self._hidden if c.con_id == con_id and c.at + self.lag > now)
        return position.quantity - unseen

    def reported_positions(self, now: float) -> list[tuple[FakePosition, int]]:
        """Every position a read at ``now`` lists, with its reported quantity (zero ones left out, as IB does)."""
        return [(p, quantity) for p in self.true.values() if (quantity := self.reported(p.contract.con_id, now))]

    def due(self, now: float) -> list[tuple[FakePosition, int]]:
        """Positions whose changes became visible by ``now``, with the quantity to push; they are pushed once."""
        visible = [c for c in self._hidden if c.at + self.lag <= now]
        self._hidden = [c for c in self._hidden if c.at + self.lag > now]
        con_ids = dict.fromkeys(c.con_id for c in visible)
        return [(self.true[con_id], self.reported(con_id, now)) for con_id in con_ids]
