"""status() asks the RiskAssessor for a snapshot made on its own thread, and says so when it cannot answer."""

from __future__ import annotations

from datetime import timedelta

from actors.context import Roles
from domain.commands import format_status
from domain.mode import Mode
from tests.support.domain_builders import contract, position
from tests.support.ib_tree import CLOSE
from tests.support.paper_tree import run_paper

HELD = [position(contract(640.0, "C"), -2), position(contract(700.0, "C"), 1)]


def test_status_comes_from_the_assessors_answer_and_says_when_there_is_none(tmp_path):
    seen: list[dict] = []

    def watch(service):
        seen.append(service.status())
        if len(seen) == 3:  # the assessor gone (as while it restarts): status must still answer, and say so
            ref = service.registry.ref(Roles.RISK_ASSESSOR)
            service.registry.unregister(Roles.RISK_ASSESSOR)
            seen.append(service.status())
            service.registry.register(Roles.RISK_ASSESSOR, ref)

    run_paper(tmp_path, HELD, start=CLOSE - timedelta(minutes=20), seconds=5, mode=Mode.MONITOR, watch=watch)
    answered, missing = seen[2], seen[3]
    assert answered["assessor_answered"] and answered["positions"] == 2
    assert {p["contract"] for p in answered["positions_at_risk"]} == {p.contract.key for p in HELD}
    assert answered["spots"]["SPY"] > 0
    # the policy's own forecast at the current price: the short call in the money at T-5, the far long never
    assert {p["contract"]: p["closes_at"] for p in answered["positions_at_risk"]} == {
        HELD[0].contract.key: "T-5", HELD[1].contract.key: None}
    assert not missing["assessor_answered"] and missing["positions"] == 0 and missing["mode"] == "monitor"
    assert "risk assessor is restarting or too busy" in format_status(missing)
    assert seen[-1]["assessor_answered"]  # back once it is registered again
