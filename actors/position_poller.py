"""PositionPoller: reads positions and working orders on a cadence that tightens toward the close."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actors.base import SupervisedActor
from actors.context import ActorContext, Roles
from domain import alerts
from domain.book import snapshot_is_current
from domain.cadence import poll_due
from domain.messages import PollNow, PositionsSnapshot, Tick
from gateways.broker import BrokerError, BrokerUnavailable
from gateways.ports import Broker

log = logging.getLogger("cleanup.poller")


@dataclass
class PollerState:
    last_poll: datetime | None = None
    poll_requested: str = ""
    executions_requested: bool = True  # the first read after a start reads the day's executions too
    executions_read_since: datetime | None = None  # the connection the last executions read belongs to
    has_positions: bool = False
    polls: int = 0
    broker_down: bool = False
    alerted: bool = False  # this outage was paged here, so its end is too


class PositionPoller(SupervisedActor):
    role = Roles.POSITION_POLLER
    # The RiskAssessor gets the book from the Executor, which sizes every close: one book, one rule.
    subscribers = (Roles.EXECUTOR, Roles.PRICE_FEED)

    def __init__(self, ctx: ActorContext, broker: Broker) -> None:
        super().__init__(ctx)
        self.broker = broker
        self.state: PollerState = ctx.keeper.get(self.role) or PollerState()

    def handle(self, message: Any) -> Any:
        if isinstance(message, PollNow):
            self.state.poll_requested = message.reason
            self.state.executions_requested |= message.with_executions
        elif isinstance(message, Tick):
            self._maybe_poll(message.now)
        else:
            return super().handle(message)
        self.ctx.keeper.keep(self.role, self.state)
        return None

    def _maybe_poll(self, now: datetime) -> None:
        stage = self.ctx.session.stage(now, self.ctx.config.settings.thresholds)
        if not (poll_due(self.state.last_poll, now, stage, self.state.has_positions, bool(self.state.poll_requested))
                or self._stale_since_reconnect()):
            return
        # The snapshot's time is the moment of the read, not the tick's: a tick made before a
        # reconnect would date a fresh read too early and the Executor would refuse to trade on it.
        taken_at = self.ctx.clock.now()
        connected_since = self.broker.connected_since()
        with_executions = self.state.executions_requested or self.state.executions_read_since != connected_since
        try:
            # Orders, then fills, then positions, as after a reconnect: an order that fills between the reads
            # then shows as still working (counted against the position) rather than as gone (counted as open).
            orders = tuple(self.broker.working_orders())
            executions = tuple(self.broker.executions()) if with_executions else None
            positions = tuple(self.broker.positions())
        except BrokerError as error:
            if not self.state.broker_down:  # logged once per outage: retried every tick, it would flood the log
                log.error("position poll failed: %s", error)
            else:
                log.debug("position poll failed again: %s", error)
            self.state.broker_down = True
            # A lost connection is paged by whoever watches it (run: the connection watcher, with IB's
            # reason); a second page for its consequence would only add noise. A read failing while
            # connected is news only the poller has.
            if not isinstance(error, BrokerUnavailable) and not self.state.alerted:
                self.state.alerted = True
                self.alert(alerts.outage("broker", str(error)))
            return  # retried on the next tick: last_poll unchanged
        if self.state.broker_down:
            log.info("positions readable again")
            if self.state.alerted:
                self.alert(alerts.outage("broker", "positions readable again", restored=True))
            self.state.broker_down = self.state.alerted = False
        self.state.last_poll, self.state.poll_requested = taken_at, ""
        if with_executions:
            self.state.executions_requested, self.state.executions_read_since = False, connected_since
        self.state.has_positions = any(p.quantity for p in positions)
        self.state.polls += 1
        self.ctx.metrics.ib_messages_sent(self.broker.messages_sent())
        snapshot = PositionsSnapshot(positions, orders, taken_at, executions)
        for role in self.subscribers:
            self.send(role, snapshot)

    def _stale_since_reconnect(self) -> bool:
        """Connected, but the last read predates this connection: the Executor will not trade until we read."""
        since = self.broker.connected_since()
        return since is not None and not snapshot_is_current(self.state.last_poll, since)
