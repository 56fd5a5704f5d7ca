"""The PositionPoller's snapshots: dated at the read, and read again at once after a reconnect."""

import pytest

from actors.context import Roles
from actors.position_poller import PositionPoller
from domain.messages import PositionsSnapshot, Tick
from domain.model import Position
from tests.domain_builders import contract
from tests.executor_support import T5, Harness, later

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
