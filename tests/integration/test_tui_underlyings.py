"""The status view with positions on several underlyings: each priced and placed by its own."""

from __future__ import annotations

from tests.support.tui import canned_status
from tui.heatmap import groups
from tui.status_view import position_rows, summary


def several() -> dict:
    status = canned_status()
    status["positions_at_risk"] = [*status["positions_at_risk"], {
        "contract": "IWM 20261125 222P", "quantity": -2, "underlying": "IWM", "spot": 220.0, "moneyness": 0.009,
        "probability_itm": 0.9, "risk": "HIGH", "action": "warn"}]
    status["spots"] = {"SPY": 629.93, "IWM": 220.0}
    status["spot_ages_seconds"] = {"SPY": 0.4, "IWM": 1.2}
    status["unwatched"] = ["SPXW 20261125 5800C"]
    return status


def test_the_heat_map_has_one_row_per_underlying_with_its_own_price_among_its_strikes():
    rows = [[str(cell).strip() for cell in row] for row in groups(several())]
    assert rows[0][0] == "|SPY 629.93|" and "222P" not in " ".join(rows[0])
    assert rows[1] == ["|IWM 220.00|", "222P +0.90% ITM"]


def test_the_header_shows_the_other_underlyings_and_what_is_not_watched():
    text = str(summary(several()))
    assert "SPY 629.93 (thetadata, 0.4s old)" in text
    assert "Also: IWM 220.00 (1.2s old)" in text
    assert "Not watched (cash-settled): SPXW 20261125 5800C" in text
    assert "Also:" not in str(summary(canned_status()))


def test_each_row_shows_the_price_its_position_was_judged_on():
    rows = dict(position_rows(several()))
    assert str(rows["IWM 20261125 222P"][3]) == "220.00" and str(rows["SPY 20261125 635P"][3]) == "629.93"
