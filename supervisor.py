"""Supervision for the pykka actor tree, after Erlang/OTP's supervisors.

pykka has no supervision: an exception in a ``tell`` stops that actor for good and drops the tells
still queued in its inbox. So, as in OTP:

- children are described by ``ChildSpec``s, started in order and stopped in reverse;
- actors address each other by role through the ``Registry`` (OTP's registered names), never by a
  captured ref; a message to a role that is restarting is held and delivered once it is back;
- a crashed child is restarted from its spec with the state the supervisor kept for it (the
  ``StateKeeper``), and the tells salvaged from its inbox are delivered to the new actor;
- ``one_for_one`` restarts the crashed child, ``rest_for_one`` also the children started after it;
- more than ``max_restarts`` crashes within ``window_seconds`` escalates: trading is halted, an
  alert goes out, everything stops and the process exits non-zero (systemd restarts it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pykka

from domain.clock import Clock

log = logging.getLogger("cleanup.supervisor")

EXIT_ESCALATED = 70  # EX_SOFTWARE: systemd's Restart=on-failure restarts the service


def salvage_inbox(actor: pykka.ThreadingActor, role: str) -> list[Any]:
    """From a crashed actor: the tells still queued (for its replacement); queued asks get ActorDeadError.

    pykka would drop the tells and leave nothing to answer the asks until teardown.
    """
    salvaged: list[Any] = []
    while not actor.actor_inbox.empty():
        envelope = actor.actor_inbox.get()
        if envelope.reply_to is None:
            salvaged.append(envelope.message)
        else:
            envelope.reply_to.set_exception(exc_info=(
                pykka.ActorDeadError, pykka.ActorDeadError(f"{role} crashed"), None))
    return salvaged


class StateKeeper:
    """The last good state of each child, written by the child, read by its replacement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, Any] = {}

    def keep(self, role: str, state: Any) -> None:
        with self._lock:
            self._states[role] = state

    def get(self, role: str, default: Any = None) -> Any:
        with self._lock:
            return self._states.get(role, default)


class TradingGate:
    """Whether orders may be sent. Shared by the breaker, the kill switch and the Executor.

    A lock-protected flag rather than a message, so the Executor sees a trip before its next order,
    and so it survives the restart of any actor.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[str, str] = {}

    def close(self, cause: str, reason: str) -> None:
        with self._lock:
            self._reasons[cause] = reason

    def open(self, cause: str) -> None:
        with self._lock:
            self._reasons.pop(cause, None)

    def is_open(self) -> bool:
        with self._lock:
            return not self._reasons

    def closed_by(self, cause: str) -> bool:
        with self._lock:
            return cause in self._reasons

    def reasons(self) -> dict[str, str]:
        with self._lock:
            return dict(self._reasons)


class Registry:
    """Role -> current actor. Sends to a role that is down are held until it is back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, pykka.ActorRef] = {}
        self._held: dict[str, deque[Any]] = {}

    def register(self, role: str, ref: pykka.ActorRef) -> None:
        with self._lock:
            self._refs[role] = ref
            held = self._held.pop(role, deque())
        for message in held:
            ref.tell(message)

    def unregister(self, role: str) -> None:
        with self._lock:
            self._refs.pop(role, None)
            self._held.setdefault(role, deque())

    def tell(self, role: str, message: Any) -> None:
        with self._lock:
            ref = self._refs.get(role)
            if ref is None:
                self._held.setdefault(role, deque()).append(message)
                return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            with self._lock:
                self._held.setdefault(role, deque()).append(message)

    def ask(self, role: str, message: Any, timeout: float = 10.0) -> Any:
        ref = self.ref(role)
        if ref is None:
            raise pykka.ActorDeadError(f"{role} is not running")
        return ref.ask(message, timeout=timeout)

    def ref(self, role: str) -> pykka.ActorRef | None:
        with self._lock:
            return self._refs.get(role)

    def roles(self) -> list[str]:
        with self._lock:
            return list(self._refs)


class Restart(StrEnum):
    """OTP's restart types, less ``transient``: a pykka actor that stops normally is never reported
    as failed, so every report is abnormal and ``transient`` would behave as ``permanent``."""

    PERMANENT = "permanent"  # restarted after every crash (counts towards the restart intensity)
    TEMPORARY = "temporary"  # never restarted: logged, and the role stays down (its messages are held)


@dataclass(frozen=True)
class ChildSpec:
    role: str
    start: Callable[[], pykka.ActorRef]  # builds the actor from the state the supervisor kept
    restart: Restart = Restart.PERMANENT
    # How long stop() waits for the actor to finish the message in hand and its on_stop; Python cannot
    # kill a thread (OTP's brutal_kill), so one that overruns is left behind, logged, and the stop goes on.
    shutdown_seconds: float = 10.0


@dataclass(frozen=True)
class _Crash:
    role: str
    error: BaseException
    salvaged: tuple[Any, ...]


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        registry: Registry,
        clock: Clock,
        *,
        max_restarts: int,
        window_seconds: float,
        strategy: str = "one_for_one",
        on_restart: Callable[[str, BaseException], None] | None = None,
        on_escalate: Callable[[str], None] | None = None,
    ) -> None:
        if strategy not in ("one_for_one", "rest_for_one"):
            raise ValueError(f"unknown restart strategy {strategy!r}")
        self.specs = list(specs)
        self.registry = registry
        self.clock = clock
        self.max_restarts = max_restarts
        self.window = timedelta(seconds=window_seconds)
        self.strategy = strategy
        self._on_restart = on_restart
        self._on_escalate = on_escalate
        self._crashes: queue.Queue[_Crash | None] = queue.Queue()
        self._restart_times: deque[datetime] = deque()
        self.restarts: dict[str, int] = {spec.role: 0 for spec in specs}
        self.escalated = threading.Event()
        self.escalation_reason = ""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._idle = threading.Condition()
        self._pending = 0

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        for spec in self.specs:
            self._start_child(spec)
        self._thread.start()

    def stop(self) -> None:
        """Stop children in reverse start order; idempotent."""
        self._stopping.set()
        self._crashes.put(None)
        for spec in reversed(self.specs):
            self._stop_child(spec)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    @property
    def stopped(self) -> bool:
        """Stopped (or escalated): no child runs any more, so none changes the state it kept."""
        return self._stopping.is_set()

    @property
    def exit_code(self) -> int:
        return EXIT_ESCALATED if self.escalated.is_set() else 0

    # --- called from a dying actor's thread ---------------------------------------------------------
    def child_failed(self, role: str, error: BaseException, salvaged: Sequence[Any] = ()) -> None:
        self.registry.unregister(role)
        with self._idle:
            self._pending += 1
        self._crashes.put(_Crash(role, error, tuple(salvaged)))

    # --- health, for the systemd watchdog -----------------------------------------------------------
    def healthy(self, timeout: float = 2.0) -> bool:
        """Every child answers a ping in time (a wedged actor stops the watchdog pings)."""
        if self.escalated.is_set() or self._stopping.is_set():
            return False
        from domain.messages import Ping

        for spec in self.specs:
            try:
                self.registry.ask(spec.role, Ping(), timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout):
                return False
        return True

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every reported crash is handled (the simulator's barrier)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    # --- internals -------------------------------------------------------------------------------
    def _start_child(self, spec: ChildSpec) -> None:
        ref = spec.start()
        self.registry.register(spec.role, ref)

    def _watch(self) -> None:
        while True:
            crash = self._crashes.get()
            if crash is None or self._stopping.is_set():
                return
            try:
                self._handle(crash)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _handle(self, crash: _Crash) -> None:
        log.error("actor %s crashed: %r", crash.role, crash.error)
        index = next(i for i, spec in enumerate(self.specs) if spec.role == crash.role)
        if self.specs[index].restart is Restart.TEMPORARY:
            log.warning("actor %s is temporary: not restarted, its role stays down", crash.role)
            return
        now = self.clock.now()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > self.window:
            self._restart_times.popleft()
        if len(self._restart_times) > self.max_restarts:
            self._escalate(f"{len(self._restart_times)} crashes within {self.window.total_seconds():g} s, "
                           f"last: {crash.role} ({crash.error!r})")
            return
        to_restart = [self.specs[index]]
        if self.strategy == "rest_for_one":
            to_restart += self.specs[index + 1:]
            for spec in reversed(self.specs[index + 1:]):
                self._stop_child(spec)
        for spec in to_restart:
            self._start_child(spec)
            self.restarts[spec.role] += 1
            if self._on_restart:
                self._on_restart(spec.role, crash.error)
            log.warning("actor %s restarted (%d restarts)", spec.role, self.restarts[spec.role])
        for message in crash.salvaged:
            self.registry.tell(crash.role, message)

    def _stop_child(self, spec: ChildSpec) -> None:
        ref = self.registry.ref(spec.role)
        self.registry.unregister(spec.role)
        if ref is None:
            return
        try:
            ref.stop(timeout=spec.shutdown_seconds)
        except pykka.Timeout:
            log.error("actor %s did not stop within %g s: left behind", spec.role, spec.shutdown_seconds)
        except pykka.ActorDeadError:
            return  # it had stopped already (it crashed, or escalation stopped it): nothing to wait for

    def _escalate(self, reason: str) -> None:
        self.escalation_reason = reason
        log.critical("supervisor escalation: %s; halting trading and stopping", reason)
        if self._on_escalate:
            self._on_escalate(reason)
        self.escalated.set()
        self._stopping.set()
        for spec in reversed(self.specs):
            self._stop_child(spec)
