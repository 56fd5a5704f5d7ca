"""The supervisor with small real actors: restart with kept state, salvage, strategies, intensity."""

import threading
import time
from dataclasses import dataclass

import pykka
import pytest

from runtime.clock import WallClock
from supervisor import ChildSpec, Registry, Restart, StateKeeper, Supervisor, salvage_inbox


@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Boom:
    pass


class Get:
    pass


@dataclass(frozen=True)
class Sleep:
    seconds: float


class Counter(pykka.ThreadingActor):
    """Keeps its total in the supervisor's StateKeeper, as the real actors do."""

    def __init__(self, role, keeper, registry, report, stopped):
        super().__init__()
        self.role, self.keeper, self.registry, self.report, self.stopped = role, keeper, registry, report, stopped
        self.total = keeper.get(role, 0)

    def on_receive(self, message):
        if isinstance(message, Add):
            self.total += message.amount
            self.keeper.keep(self.role, self.total)
        elif isinstance(message, Boom):
            raise RuntimeError(f"{self.role} boom")
        elif isinstance(message, Get):
            return self.total
        elif isinstance(message, Sleep):
            time.sleep(message.seconds)
        return None

    def on_failure(self, exc_type, exc, tb):
        self.registry.unregister(self.role)
        self.report(self.role, exc, salvage_inbox(self, self.role))

    def on_stop(self):
        self.stopped.append(self.role)


def build(roles, *, max_restarts=3, window=60.0, strategy="one_for_one", restart=None, shutdown=None):
    registry, keeper, stopped = Registry(), StateKeeper(), []
    holder = {}

    def report(role, exc, salvaged):
        holder["sup"].child_failed(role, exc, salvaged)

    specs = [ChildSpec(role, lambda role=role: Counter.start(role, keeper, registry, report, stopped),
                       **({"restart": restart[role]} if restart and role in restart else {}),
                       **({"shutdown_seconds": shutdown[role]} if shutdown and role in shutdown else {}))
             for role in roles]
    escalations = []
    sup = Supervisor(specs, registry, WallClock(), max_restarts=max_restarts, window_seconds=window,
                     strategy=strategy, on_escalate=escalations.append)
    holder["sup"] = sup
    sup.start()
    return sup, registry, keeper, stopped, escalations


def wait_restarts(sup, role, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while sup.restarts[role] < count and not sup.escalated.is_set():
        assert time.monotonic() < deadline, f"{role} not restarted {count} times"
        time.sleep(0.01)
    sup.wait_idle()


def ask(registry, role, message=None, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return registry.ask(role, message or Get(), timeout=timeout)
        except pykka.ActorDeadError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_children_start_in_order_and_stop_in_reverse():
    sup, registry, _, stopped, _ = build(["a", "b", "c"])
    assert registry.roles() == ["a", "b", "c"]
    sup.stop()
    assert stopped == ["c", "b", "a"]
    assert sup.exit_code == 0


def test_a_crashed_child_is_restarted_with_its_kept_state_and_salvaged_messages():
    sup, registry, _, _, _ = build(["a", "b"])
    try:
        registry.tell("a", Add(5))
        first = registry.ref("a")
        registry.tell("a", Boom())
        for _ in range(3):
            registry.tell("a", Add(1))  # queued behind the crash or held during the restart
        wait_restarts(sup, "a", 1)
        assert ask(registry, "a") == 8
        assert registry.ref("a") is not first and sup.restarts == {"a": 1, "b": 0}
        assert ask(registry, "b") == 0
    finally:
        sup.stop()


def test_rest_for_one_also_restarts_the_children_started_after():
    sup, registry, _, stopped, _ = build(["a", "b", "c"], strategy="rest_for_one")
    try:
        refs = {role: registry.ref(role) for role in "abc"}
        registry.tell("b", Boom())
        wait_restarts(sup, "c", 1)
        assert registry.ref("a") is refs["a"]
        assert registry.ref("b") is not refs["b"] and registry.ref("c") is not refs["c"]
        assert sup.restarts == {"a": 0, "b": 1, "c": 1}
    finally:
        sup.stop()


def test_too_many_crashes_within_the_window_escalate_and_stop_everything():
    sup, registry, _, _, escalations = build(["a", "b"], max_restarts=2, window=60.0)
    for crash in range(3):
        ask(registry, "a")
        registry.tell("a", Boom())
        wait_restarts(sup, "a", min(crash + 1, 2))
    assert sup.escalated.wait(5)
    assert escalations and "3 crashes" in escalations[0]
    assert sup.exit_code == 70
    assert registry.roles() == []
    sup.stop()


def test_crashes_spread_beyond_the_window_do_not_escalate():
    sup, registry, _, _, _ = build(["a"], max_restarts=1, window=0.2)
    try:
        for _ in range(3):
            ask(registry, "a")
            registry.tell("a", Boom())
            sup.wait_idle()
            time.sleep(0.3)
        assert not sup.escalated.is_set() and sup.restarts["a"] == 3
    finally:
        sup.stop()


def test_messages_to_a_role_that_is_down_are_held_until_it_is_back():
    registry = Registry()
    registry.unregister("x")
    registry.tell("x", Add(2))
    keeper, stopped = StateKeeper(), []
    ref = Counter.start("x", keeper, registry, lambda *a: None, stopped)
    registry.register("x", ref)
    assert ask(registry, "x") == 2
    ref.stop()


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy"):
        Supervisor([], Registry(), WallClock(), max_restarts=1, window_seconds=1, strategy="all_for_none")


def test_stop_is_idempotent_and_joins_the_watcher():
    sup, _, _, _, _ = build(["a"])
    sup.stop()
    sup.stop()
    assert not any(t.name == "supervisor" and t.is_alive() for t in threading.enumerate() if t is sup._thread)


class Wedge:
    """Blocks the actor until released: a wedged actor, as a hung broker call would leave it."""

    def __init__(self):
        self.release = threading.Event()


class Wedgeable(Counter):
    def on_receive(self, message):
        if isinstance(message, Wedge):
            message.release.wait(10)
            return None
        from domain.messages import Ping

        if isinstance(message, Ping):
            return True
        return super().on_receive(message)


def test_healthy_is_false_while_an_actor_is_wedged_and_true_again_after():
    registry, keeper, stopped = Registry(), StateKeeper(), []
    specs = [ChildSpec(role, lambda role=role: Wedgeable.start(role, keeper, registry, lambda *a: None, stopped))
             for role in ("a", "b")]
    sup = Supervisor(specs, registry, WallClock(), max_restarts=1, window_seconds=60)
    sup.start()
    try:
        assert sup.healthy(timeout=1.0)
        wedge = Wedge()
        registry.tell("b", wedge)
        assert not sup.healthy(timeout=0.2)  # the systemd watchdog stops pinging on this
        wedge.release.set()
        assert sup.healthy(timeout=2.0)
    finally:
        sup.stop()


def test_a_temporary_child_stays_down_and_its_crash_does_not_count_towards_escalation():
    sup, registry, _, _, escalations = build(["a", "b"], max_restarts=0, restart={"a": Restart.TEMPORARY})
    try:
        registry.tell("a", Boom())
        deadline = time.monotonic() + 5
        while "a" in registry.roles():
            assert time.monotonic() < deadline, "the crashed child is still registered"
            time.sleep(0.01)
        sup.wait_idle()
        assert registry.ref("a") is None and sup.restarts == {"a": 0, "b": 0}
        assert not sup.escalated.is_set() and not escalations  # max_restarts=0: a counted crash would escalate
        registry.tell("a", Add(1))  # held, as for any role that is down
        assert ask(registry, "b") == 0
    finally:
        sup.stop()


def test_stop_waits_each_child_its_own_shutdown_time_and_goes_on_past_one_that_overruns(caplog):
    sup, registry, _, stopped, _ = build(["a", "b"], shutdown={"a": 2.0, "b": 0.2})
    registry.tell("a", Sleep(0.5))  # within its 2 s: finished, then stopped
    registry.tell("b", Sleep(1.5))  # beyond its 0.2 s: left behind, logged
    time.sleep(0.05)
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 1.4  # did not wait out b's message
    assert "a" in stopped and "did not stop within 0.2 s" in caplog.text
