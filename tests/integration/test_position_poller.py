"""The PositionPoller's snapshots: dated at the read, and read again at once after a reconnect."""

import pytest

from actors.context import Roles
from actors.position_poller import PositionPoller
from domain.alerts import Alert
from domain.messages import PollNow, PositionsSnapshot, Tick
from domain.model import Position
from gateways.broker import BrokerError
from tests.support.domain_builders import contract
from tests.support.executor import T5, Harness, later

HELD = Position(contract(638, "C"), 2, avg_cost=1.80)


@pytest.fixture
def poller(tmp_path):
    harness = Harness(PositionPoller, tmp_path, positions=[HELD])
    yield harness
    harness.stop()


def snapshots(poller):
    return poller.told(Roles.EXECUTOR, PositionsSnapshot)


def test_a_snapshot_is_dated_when_it_is_read_not_when_its_tick_was_made(poller):
    tick = Tick(poller.clock.now())
    poller.advance(1)  # e.g. the broker reconnected meanwhile (a tick later than this is dropped)
    poller.send(tick)
    (snapshot,) = snapshots(poller)
    assert snapshot.taken_at == poller.clock.now() == later(T5, 1)


def test_after_a_reconnect_positions_are_read_on_the_next_tick_not_at_the_next_scheduled_poll(poller):
    poller.send(Tick(poller.clock.now()))
    poller.broker.drop()
    poller.broker.reconnect(after_seconds=5)  # T-5 polls once a minute: not due for 55 s
    poller.send(Tick(poller.advance(1)))
    assert [s.taken_at for s in snapshots(poller)] == [T5, later(T5, 6)]
    poller.send(Tick(poller.advance(1)))
    assert len(snapshots(poller)) == 2  # and then back to the cadence


def test_a_lost_connection_is_not_paged_again_by_the_poller_but_a_failing_read_is_once(poller):
    poller.broker.drop()  # the connection's owner pages this one
    for _ in range(3):
        poller.send(PollNow("test"))
        poller.send(Tick(poller.advance(1)))
    assert poller.told(Roles.NOTIFIER, Alert) == []
    poller.broker.reconnect()
    poller.broker.errors = [BrokerError("IB Gateway did not answer within 10s; positions not read")] * 3
    for _ in range(3):  # connected, but the reads fail: only the poller knows
        poller.send(Tick(poller.advance(1)))
    (down,) = poller.told(Roles.NOTIFIER, Alert)
    assert "did not answer" in down.body
    poller.send(Tick(poller.advance(1)))
    assert [a.title for a in poller.told(Roles.NOTIFIER, Alert)] == ["broker down", "broker restored"]
