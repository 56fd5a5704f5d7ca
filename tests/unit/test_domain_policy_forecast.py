"""closing_forecast: the stage at which the policy's own rule would close each position at the current price."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.mode import Mode
from domain.policy import StageAction, closing_forecast, determine_actions
from domain.stages import Stage
from tests.support.domain_builders import contract, inputs, position

SPOT = 600.0


def forecast(held, minutes, mode=Mode.ACTIVE, spot=SPOT):
    given_inputs = inputs(held, spot, minutes, mode)
    result = determine_actions(given_inputs)
    return {c.key: stage for c, stage in closing_forecast(given_inputs, result.assessments).items()}, result


def test_in_the_money_closes_at_t5_near_at_t2_far_never():
    itm, near, far = (position(contract(strike, "P"), -1) for strike in (601.0, 599.0, 580.0))
    seen, _ = forecast([itm, near, far], minutes=20)  # T-30
    assert seen == {itm.contract.key: Stage.T5, near.contract.key: Stage.T2, far.contract.key: None}


def test_from_inside_a_closing_stage_the_forecast_is_that_stage():
    itm = position(contract(601.0, "P"), -1)
    seen, _ = forecast([itm], minutes=1)  # T-2
    assert seen == {itm.contract.key: Stage.T2}


def test_emergency_closes_everything_now():
    far = position(contract(580.0, "P"), -1)
    seen, _ = forecast([far], minutes=120, mode=Mode.EMERGENCY)
    assert seen == {far.contract.key: Stage.NORMAL}


def test_after_the_bell_nothing_is_forecast():
    itm = position(contract(601.0, "P"), -1)
    given_inputs = inputs([itm], SPOT, -1)
    assert all(stage is None for stage in closing_forecast(given_inputs, determine_actions(given_inputs).assessments)
               .values())


@given(strike=st.floats(min_value=570, max_value=630), quantity=st.sampled_from([-3, -1, 1, 2]),
       right=st.sampled_from("CP"), minutes=st.sampled_from([20.0, 4.0, 1.0]))
def test_the_forecast_of_the_current_stage_is_the_policys_decision_now(strike, quantity, right, minutes):
    held = position(contract(round(strike, 1), right), quantity)
    seen, result = forecast([held], minutes)
    (assessment,) = result.assessments
    closes_now = assessment.action is StageAction.CLOSE
    assert (seen[held.contract.key] is assessment.stage) == closes_now
