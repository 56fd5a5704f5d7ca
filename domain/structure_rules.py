"""The closing rules of a multi-leg structure, on top of each leg's own rule (``domain.policy``).

- A long leg is never closed while a short partner of it (``Structure.partners``) stays open: sold
  alone it leaves the short naked to an after-hours move. When a long leg's own rule says close, the
  structure is closed with it, its short partners included.
- A short leg at risk is bought back, its long partners kept while it is: with one order for the
  whole structure when every leg is to close, else the short legs first and the longs once they are
  gone (the policy sees the shorts closed in its next pass, and the longs are then legs of their own).
- A structure whose every leg is closed is closed as one combo order (``combo``); the Executor falls
  back to short legs first when the broker refuses combos, or a leg cannot be priced.
- A structure that settles with no net delivery of shares at every settlement price it can plausibly
  reach by 17:30 ET (``settlement_range``), every leg in the money, is left alone when the rules say
  so: closing it costs the spread of every leg and delivers nothing less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.model import OptionContract
from domain.structures import DeliveryBand, Leg, Structure


@dataclass(frozen=True)
class StructurePlan:
    structure: Structure
    close: tuple[Leg, ...]  # legs to close now
    held: tuple[Leg, ...]  # legs kept open because a short partner is open (or is being bought back first)
    combo: bool  # every leg closes: one order for all of them
    left_alone: bool  # settles with no net delivery: nothing closed, on purpose
    reason: str


@dataclass(frozen=True)
class StructureAssessment:
    """What a multi-leg structure delivers at expiration, and what the policy does with it."""

    structure: Structure
    profile: tuple[DeliveryBand, ...]  # net shares delivered per band of settlement prices
    spot: float | None
    delivery_at_spot: int | None  # shares delivered if it settled at the current price
    low: float | None  # the settlement prices it can plausibly reach by 17:30 ET
    high: float | None
    fewest: int | None  # the least and the most net delivery over that range
    most: int | None
    plan: StructurePlan

    @property
    def profile_text(self) -> str:
        return "; ".join(band.text() for band in self.profile)

    def text(self) -> str:
        reach = "" if self.low is None or self.high is None else (
            f", {self.low:.2f}-{self.high:.2f} by 17:30 ET delivers {self.fewest:+d} to {self.most:+d} shares")
        return f"{self.structure.name}: delivery {self.profile_text}{reach}; {self.plan.reason}"


def plan_structure(structure: Structure, closing: Mapping[OptionContract, bool], *,
                   settles_flat: bool) -> StructurePlan:
    """Which legs of ``structure`` close now, given each leg's own verdict (``closing``: True when its rule says
    close). ``settles_flat``: every leg in the money and no net delivery anywhere it can reach, and the rules
    allow leaving such a structure alone."""
    wants = {leg.contract for leg in structure.legs if closing.get(leg.contract, False)}
    if not wants:
        return StructurePlan(structure, (), (), combo=False, left_alone=False, reason="no leg at risk")
    if settles_flat:
        return StructurePlan(structure, (), structure.legs, combo=False, left_alone=True,
                             reason="left alone: every leg in the money, and it settles with no net delivery of "
                                    "shares anywhere it can reach by 17:30 ET; closing would only cost the spreads")
    pulled = {partner for leg in structure.legs if not leg.is_short and leg.contract in wants
              for partner in structure.partners(leg.contract)}
    to_close = wants | pulled
    linked = any(structure.partners(leg.contract) for leg in structure.legs)
    if linked and all(leg.contract in to_close for leg in structure.legs):
        why = "a long leg to close: its short partners close with it" if pulled - wants else "every leg at risk"
        return StructurePlan(structure, structure.legs, (), combo=True, left_alone=False,
                             reason=f"{why}: closed as one combo order")
    # Legs without partners (a straddle's, a strangle's) follow their own rule; shorts go before their longs.
    now = tuple(leg for leg in structure.legs if leg.contract in to_close
                and (leg.is_short or not structure.partners(leg.contract)))
    held = tuple(leg for leg in structure.legs if leg not in now)
    if any(leg.contract in to_close for leg in held):
        reason = "long legs held until their short partners are bought back"
    elif any(leg.is_short for leg in now) and held:
        reason = "short leg at risk: bought back first, its long partners kept"
    else:
        reason = "legs closed by their own rules"
    return StructurePlan(structure, now, held, combo=False, left_alone=False, reason=reason)
