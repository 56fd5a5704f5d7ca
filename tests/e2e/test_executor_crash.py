"""A crash of the Executor half way through a fill (issue 16): nothing half-written survives, nothing is lost.

The message that crashed the actor is gone for good (pykka drops it), and the state kept for its
replacement is the one of the message before. The replacement must rebuild orders and fills from the
broker before it acts: the fill is recorded once, the filled order is never walked as if still working,
and no reject trips anything.
"""

from pathlib import Path

from actors.executor import Executor
from actors.executor_reports import BrokerReports
from config import load_settings
from domain.audit import ActionKind
from domain.messages import PositionsSnapshot
from domain.model import Execution, Position, Side
from domain.settlement import Outcome
from simulation import runner
from simulation.scenario import load_scenario
from tests.support.domain_builders import contract
from tests.support.executor import Harness

CALL = contract(638, "C")

SCENARIOS = Path(__file__).resolve().parents[2] / "simulation" / "scenarios"


def test_a_crash_while_handling_a_fill_loses_nothing_and_sends_nothing_twice(tmp_path, monkeypatch):
    handle = BrokerReports.execution
    crashes: list[str] = []

    def half_way_then_crash(self: BrokerReports, execution: Execution) -> None:
        if not crashes:
            crashes.append(execution.exec_id)
            for own in self.state.own.values():  # half-written: the order looks filled, the fill is not in
                own.order = own.order.__class__(**{**own.order.__dict__, "filled": own.order.quantity})
            raise RuntimeError("crash in the middle of a fill")
        handle(self, execution)

    monkeypatch.setattr(BrokerReports, "execution", half_way_then_crash)
    scenario = load_scenario(SCENARIOS / "itm_long_call.json")
    settings = load_settings(flags={"data_dir": str(tmp_path)}, environ={}).settings
    result = runner.run_simulation(scenario, runner.simulation_settings(settings, scenario, None))

    assert crashes and result.restarts["executor"] == 1 and not result.escalated
    fills = [a for a in result.actions if a.action is ActionKind.FILL]
    assert [(f.strike, f.quantity) for f in fills] == [(638.0, 2)]  # the lost fill, recorded once from the broker
    assert [a for a in result.actions if a.action in (ActionKind.REJECT, ActionKind.BREAKER)] == []
    assert result.orders_sent == 1 and [r.outcome for r in result.results] == [Outcome.CLOSED]


def test_the_state_kept_for_a_replacement_is_the_one_before_the_message_that_crashed(tmp_path, monkeypatch):
    desk = Harness(Executor, tmp_path)
    try:
        desk.send(PositionsSnapshot((Position(CALL, 2, 1.8),), (), desk.clock.now(), ()))
        before = desk.state()

        def half_way_then_crash(self: BrokerReports, execution: Execution) -> None:
            self.state.attempts[CALL] = 99  # half-written
            raise RuntimeError("crash in the middle of a fill")

        monkeypatch.setattr(BrokerReports, "execution", half_way_then_crash)
        desk.actor.tell(Execution("e1", "1", None, CALL, Side.SELL, 2, 3.0, desk.clock.now()))
        assert desk.actor.actor_stopped.wait(5)
        kept = desk.state()
        assert kept.attempts == before.attempts == {}
    finally:
        desk.stop()
