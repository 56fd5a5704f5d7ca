"""How the policy tells long options from short ones: two different risks.

A long option becomes shares only if it is in the money at the close, and IB takes a lapse instruction
for it until 16:30 ET: a long near the money can be left to the close and lapsed if it finished in the
money (``domain.lapse``), and one in the money is sold only when its bid is worth the trouble. A short
option is assigned on any move until 17:30 ET, which nobody can refuse: it is closed when it is in the
money, inside the seed's T-2 band, or beyond it while its chance of finishing in the money by 17:30
is still above a level.

The defaults here are the seed's behaviour (every side alike); ``config/defaults.toml`` sets the
side-aware ones the service runs with, and ``config/seed.toml`` restores these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClosingRules:
    # Leave longs that are not worth selling to the close, and lapse those that finish in the money.
    lapse_longs: bool = False
    # With lapse_longs: a long in the money is sold only when its bid (else its intrinsic value) is at
    # least this many dollars per share; below it, selling costs more than the lapse gives up.
    long_min_bid: float = 0.0
    # At T-2 every short inside the band is closed (the seed's floor), and beyond it every short whose
    # chance of assignment by 17:30 ET is above this; 1 adds nothing to the band, as the seed does.
    short_assignment_probability: float = 1.0
    # The underlying's after-hours volatility as a share of the option's implied volatility.
    after_hours_vol_factor: float = 0.5
    # A spread whose every leg is in the money and which delivers no net shares at any settlement price it can
    # reach by 17:30 ET is left to settle (domain.structure_rules); the seed closed each leg.
    leave_settled_spreads: bool = False
    # On the session before an ex-date, close the short calls a holder is likely to exercise early for the dividend
    # (domain.ex_dividend), as an expiring short in the money is closed. The seed had no such rule: off, they are
    # only warned of.
    ex_dividend_guard: bool = False
