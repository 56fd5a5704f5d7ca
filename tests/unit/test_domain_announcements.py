"""The RiskAssessor's announcement rules (domain/announcements.py) on the policy's real results."""

from __future__ import annotations

from domain.announcements import (
    at_risk_at_t30,
    ex_dividend_plan,
    fresh_warnings,
    notices,
    plan_changes,
    stale_spells,
)
from domain.mode import Mode
from domain.policy import determine_actions
from tests.support.domain_builders import SESSION, contract, inputs, position

SHORT_ITM = position(contract(601.0, "P"), -2)  # SPY at 600: in the money


def test_a_warning_is_fresh_once_per_contract_and_stage_and_the_t30_alert_lists_it():
    result = determine_actions(inputs([SHORT_ITM], 600.0, 20))
    (warning,) = fresh_warnings(result, set())
    assert warning.contract == SHORT_ITM.contract and at_risk_at_t30([warning]) == [warning]
    assert fresh_warnings(result, {(SHORT_ITM.contract, warning.stage.value)}) == []


def test_the_ex_dividend_plan_says_what_will_be_done_in_each_mode():
    assert ex_dividend_plan(Mode.MONITOR, True).startswith("Monitor mode: not closed")
    assert ex_dividend_plan(Mode.ACTIVE, False).startswith("ex_dividend_guard is off")
    assert "closed from T-5" in ex_dividend_plan(Mode.ACTIVE, True)
    assert "closed from T-5" in ex_dividend_plan(Mode.EMERGENCY, True)


def test_a_stale_price_starts_a_spell_said_once_from_t5_and_a_fresh_price_ends_it():
    stale_at_t5 = determine_actions(inputs([SHORT_ITM], 600.0, 4, spot_age=120))
    starting, running = stale_spells(stale_at_t5, set())
    assert [s.symbol for s in starting] == ["SPY"] and running == {"SPY"}
    assert stale_spells(stale_at_t5, running) == ([], {"SPY"})  # the same spell: said once
    fresh = determine_actions(inputs([SHORT_ITM], 600.0, 3))
    assert stale_spells(fresh, running) == ([], set())  # ended: the next stale price is a new spell
    stale_at_t30 = determine_actions(inputs([SHORT_ITM], 600.0, 20, spot_age=120))
    assert stale_spells(stale_at_t30, set()) == ([], set())  # before T-5 none starts


def test_cash_settled_contracts_are_noticed_under_their_own_key():
    spx = position(contract(6000.0, "P", symbol="SPX"), -1)
    result = determine_actions(inputs([spx], 600.0, 20, others={"SPX": (6000.0, 0.0)}))
    (notice,) = notices(result, SESSION)
    assert notice.contract == spx.contract and notice.quantity == -1 and notice.alert.key.startswith("not-watched:")


def test_a_structures_plan_is_recorded_when_it_changes_never_while_quiet_or_unchanged():
    spread = [position(contract(601.0, "P"), -1), position(contract(590.0, "P"), 1)]
    quiet = determine_actions(inputs(spread, 620.0, 20)).structures
    assert plan_changes(quiet, {}) == []  # no leg ever at risk: nothing to record
    at_risk = determine_actions(inputs(spread, 600.0, 4)).structures
    ((assessment, key),) = plan_changes(at_risk, {})
    assert plan_changes(at_risk, {assessment.structure.name: key}) == []  # seen again unchanged
    back = plan_changes(quiet, {assessment.structure.name: key})
    assert len(back) == 1  # a return to "no leg at risk" once recorded is a change too
