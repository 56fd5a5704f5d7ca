"""Which market-data subscriptions nobody asks for any more (IB limits the lines an account may hold).

A poll is one round of requests from the PriceFeed, which asks for each instrument once per tick
(the underlying, then the held contracts); a round ends when an instrument already asked for in it is
asked for again. An instrument not asked for in ``idle_polls`` consecutive rounds is idle: its
subscription is cancelled, and a later request subscribes again. Counting rounds, not seconds, keeps
this right at any tick rate. Pure bookkeeping: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

IDLE_POLLS = 3


class IdleLines:
    def __init__(self, idle_polls: int = IDLE_POLLS) -> None:
        self._idle_polls = idle_polls
        self._round = 0
        self._this_round: set[str] = set()
        self._last_asked: dict[str, int] = {}  # instrument -> the round it was last asked for in

    def asked(self, keys: Iterable[str]) -> list[str]:
        """Record one request; return the instruments that have just become idle (each once)."""
        wanted = set(keys)
        if wanted & self._this_round:
            self._round += 1
            self._this_round = set()
        self._this_round |= wanted
        for key in wanted:
            self._last_asked[key] = self._round
        idle = [key for key, asked in self._last_asked.items() if self._round - asked >= self._idle_polls]
        for key in idle:
            del self._last_asked[key]
        return idle
