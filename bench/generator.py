"""The documented generator of simulated expiration afternoons for the KPI benchmark.

One ``Day`` holds everything a policy can see or be judged by: a real XNYS session (early closes
included), a per-second SPY path from 3 h before the close to the close, the SPY price at the 17:30 ET
exercise cut-off, the option spread regime, and the expiring positions. Every number below is a
parameter of ``GeneratorConfig`` and is described in bench/README.md. Day ``i`` depends only on
``(seed, i)`` (numpy SeedSequence), so the first 20 days of a 1,000-day run equal a 20-day run.

The generator was written from market facts, not fitted to make any policy look good:
- SPY realised volatility is mostly 10-20 % a year with stressed days well above: a lognormal around
  14 %, clipped to 6-60 %; the last 35 minutes are 50 % more volatile (the U-shaped intraday volatility,
  closing imbalances).
- Late jumps: on 20 % of days one jump (Laplace, scale 0.25 %) at a uniform instant in the last 10 min
  (the closing-auction imbalance is published at 15:50 ET).
- After hours (close to 17:30 ET, 4.5 h on early-close days): diffusion at 40 % of the day's
  volatility plus, on 15 % of days, a news move (Laplace, scale 0.30 %: megacap earnings and macro
  news after the bell come several times a month).
- Positions: 3-8 per day, calls and puts, long and short with equal odds, strikes on the $1 grid,
  1-10 contracts. Moneyness at T-35: 60 % of them near the money (Normal(0, 0.2 %): 0DTE open
  interest crowds the strikes next to spot late in the day), the rest Normal(0, 1 %).
- Trader orders resting on expiring contracts (placed in TWS, modifiable): protective stops and
  take-profit limits covering part of a position, and orders that would add to it.
- Option quotes that stop updating for a stretch (the feed's snapshot of one contract goes stale).
- Position reads that lag fills by a few seconds (IB's do, 12 s has been seen).
- Multi-leg structures on top of the single positions (a stream of their own): verticals (debit and
  credit, calls and puts), short iron condors and long butterflies, as an account running 0DTE spreads
  holds them; no trader orders rest on their legs (a trader closes a spread as a combo, if at all).
- One big day (``big_day``, off by default; ``python -m bench.kpi`` turns it on): its singles are
  ``big_day_positions`` (500) instead of 3-8, every one in the money at T-35 (calls below spot, puts
  above, on the $1 grid from the nearest strike out): an account closing hundreds of positions at T-5,
  where IB's message rate (``domain.pacing``) decides when the last close goes out.
- Spreads: the simulated market's ``Spread`` (half-spread = max(floor, share x price), widening
  toward the close) with a share of 0.3-1.2 % of the premium (an ITM 0DTE SPY option at $5 is
  typically quoted 5-10 cents wide) and a widening factor of 1-4 drawn per day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from domain.model import OptionContract, OrderType, Position, Right, Side, WorkingOrder
from domain.option_pricing import black_scholes
from domain.risk import TRADING_MINUTES_PER_YEAR
from domain.session import ExpirySession
from gateways.calendar import MarketCalendar
from gateways.sim_market import Spread

SYMBOL = "SPY"
# The path starts 3 h before the close: the broker-style forced liquidation acts there.
HORIZON_SECONDS = 180 * 60
WINDOW_SECONDS = 35 * 60  # the last 35 minutes: the stretch the seed's policy works in


@dataclass(frozen=True)
class GeneratorConfig:
    first_day: date = date(2023, 1, 1)
    last_day: date = date(2026, 12, 31)
    # Real early closes are ~1 % of sessions; oversampled so a 1,000-day run has ~50 of them.
    early_close_share: float = 0.05
    spot_low: float = 420.0
    spot_high: float = 700.0
    vol_median: float = 0.14
    vol_log_sd: float = 0.40
    vol_min: float = 0.06
    vol_max: float = 0.60
    close_vol_multiplier: float = 1.5
    jump_probability: float = 0.20
    jump_scale: float = 0.0025
    jump_window_seconds: int = 600  # the jump falls at a uniform second of the last this many
    after_hours_vol_share: float = 0.40
    news_probability: float = 0.15
    news_scale: float = 0.0030
    # A day's singles of one right all take the sign of its first (the draws are unchanged): a long and a short
    # of one right and expiry are a vertical to domain.structures, not two singles. False: the old days.
    singles_one_sign_per_right: bool = True
    positions_min: int = 3
    positions_max: int = 8
    moneyness_sd: float = 0.01
    near_money_share: float = 0.6
    near_money_sd: float = 0.002
    quantities: tuple[int, ...] = (1, 1, 1, 2, 2, 3, 5, 10)
    spread_share_low: float = 0.003
    spread_share_high: float = 0.012
    widening_low: float = 1.0
    widening_high: float = 4.0
    # Broker behaviour (per order): rejects at placement, and a partial fill when an order fills.
    reject_rate: float = 0.02
    partial_fill_rate: float = 0.15
    # Position reads lag fills: each fill shows in reads after Exponential(mean) seconds, at most max.
    position_lag_mean_seconds: float = 3.0
    position_lag_max_seconds: float = 15.0
    # Trader orders resting on expiring positions (shares of positions; each covers 1..all contracts),
    # priced from the option's mid at T-35 a share of the premium away (drawn in the range).
    trader_stop_share: float = 0.10
    trader_limit_share: float = 0.10
    opening_order_share: float = 0.05
    trader_order_distance_low: float = 0.2
    trader_order_distance_high: float = 0.6
    # Option quotes going stale: a share of contracts whose quote freezes once in the last 35 min.
    stale_quote_share: float = 0.10
    stale_seconds_low: int = 20
    stale_seconds_high: int = 180
    # Multi-leg structures added to each day's singles (a stream of their own: at 0 the days are as before):
    # Binomial(structures_max, structure_probability) of them, each a vertical, an iron condor or a butterfly
    # by the weights below; widths in $ on the $1 grid; the short strike (a condor's short strikes, a fly's
    # body) placed like a near-money single.
    structures_max: int = 4
    structure_probability: float = 0.75
    structure_weights: tuple[float, float, float] = (0.7, 0.15, 0.15)  # vertical, iron condor, butterfly
    vertical_widths: tuple[int, ...] = (1, 1, 2, 2, 3, 5)
    condor_distance_low: float = 0.002  # a condor's short strikes this share of spot away (each side)
    condor_distance_high: float = 0.008
    # The index of the day holding big_day_positions singles, all in the money at T-35; None: no such day.
    big_day: int | None = None
    big_day_positions: int = 500


@dataclass(frozen=True)
class Day:
    index: int
    seed: int  # for the common random numbers of the broker (rejects, partial fills)
    session: ExpirySession
    path: tuple[float, ...] = field(repr=False)  # SPY per second; path[HORIZON_SECONDS] is the close
    after_hours: float  # SPY at the 17:30 ET exercise cut-off
    vol: float  # annualised; the options are priced (and quoted) with it
    spread: Spread
    positions: tuple[Position, ...]
    jump_at: int | None  # seconds before the close of the late jump, if any
    orders: tuple[WorkingOrder, ...] = ()  # the trader's, resting from T-35
    # contract -> (first, last) second before the close during which its quote does not update
    stale: dict[OptionContract, tuple[int, int]] = field(default_factory=dict, repr=False)
    structures: tuple[str, ...] = ()  # the kind of each multi-leg structure generated (its legs are in positions)

    def spot(self, seconds_before_close: int) -> float:
        return self.path[HORIZON_SECONDS - seconds_before_close]

    @property
    def close_spot(self) -> float:
        return self.path[HORIZON_SECONDS]


@lru_cache(maxsize=4)
def sessions(first: date, last: date) -> tuple[tuple[ExpirySession, ...], tuple[ExpirySession, ...]]:
    """(regular, early-close) XNYS sessions in the range, from the project's MarketCalendar."""
    calendar = MarketCalendar()
    regular, early = [], []
    day = first
    while day <= last:
        session = calendar.session(day)
        if session is not None:
            (early if session.early_close else regular).append(session)
        day += timedelta(days=1)
    return tuple(regular), tuple(early)


def generate_days(n: int, seed: int, config: GeneratorConfig | None = None) -> list[Day]:
    config = config or GeneratorConfig()
    regular, early = sessions(config.first_day, config.last_day)
    return [generate_day(i, seed, config, regular, early) for i in range(n)]


def generate_day(index: int, seed: int, config: GeneratorConfig, regular: tuple[ExpirySession, ...],
                 early: tuple[ExpirySession, ...]) -> Day:
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    pool = early if early and rng.random() < config.early_close_share else regular
    session = pool[int(rng.integers(len(pool)))]
    vol = float(np.clip(config.vol_median * math.exp(config.vol_log_sd * rng.standard_normal()),
                        config.vol_min, config.vol_max))
    path, jump_at = _path(rng, config, vol)
    after_hours = _after_hours(rng, config, vol, session, path[-1])
    spread = Spread(share_of_price=float(rng.uniform(config.spread_share_low, config.spread_share_high)),
                    widening=float(rng.uniform(config.widening_low, config.widening_high)))
    positions = _positions(rng, config, session, path[HORIZON_SECONDS - WINDOW_SECONDS])
    if index == config.big_day:  # drawn on a stream of its own: the other draws of the day are as they were
        big = np.random.default_rng(np.random.SeedSequence([seed, index, 3]))
        positions = _big_book(big, config, session, path[HORIZON_SECONDS - WINDOW_SECONDS])
    day_seed = int(rng.integers(2**62))
    # A stream of their own: switching them off (shares at 0) leaves the rest of the day as it was.
    extra = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
    mid = {p.contract: _mid(p.contract, path[HORIZON_SECONDS - WINDOW_SECONDS], vol) for p in positions}
    orders = _trader_orders(extra, config, positions, mid)
    stale = _stale_stretches(extra, config, positions)
    built = np.random.default_rng(np.random.SeedSequence([seed, index, 2]))
    kinds, legs = _structures(built, config, session, path[HORIZON_SECONDS - WINDOW_SECONDS], positions)
    stale.update(_stale_stretches(built, config, legs))
    return Day(index, day_seed, session, path, after_hours, vol, spread, positions + legs, jump_at, orders, stale,
               structures=kinds)


def _path(rng: np.random.Generator, config: GeneratorConfig, vol: float) -> tuple[tuple[float, ...], int | None]:
    """Log-normal per-second walk from T-180 min to the close, rounded to cents."""
    per_second = vol / math.sqrt(TRADING_MINUTES_PER_YEAR * 60)
    steps = rng.standard_normal(HORIZON_SECONDS) * per_second
    steps[HORIZON_SECONDS - WINDOW_SECONDS:] *= config.close_vol_multiplier
    jump_at = None
    if rng.random() < config.jump_probability:
        jump_at = int(rng.integers(1, config.jump_window_seconds))
        steps[HORIZON_SECONDS - jump_at] += rng.laplace(0.0, config.jump_scale)
    start = rng.uniform(config.spot_low, config.spot_high)
    levels = start * np.exp(np.concatenate(([0.0], np.cumsum(steps))))
    return tuple(np.round(levels, 2).tolist()), jump_at


def _after_hours(rng: np.random.Generator, config: GeneratorConfig, vol: float, session: ExpirySession,
                 close: float) -> float:
    minutes = (session.exercise_cutoff - session.close).total_seconds() / 60
    move = rng.standard_normal() * vol * config.after_hours_vol_share * math.sqrt(minutes / TRADING_MINUTES_PER_YEAR)
    if rng.random() < config.news_probability:
        move += rng.laplace(0.0, config.news_scale)
    return round(close * math.exp(move), 2)


def _positions(rng: np.random.Generator, config: GeneratorConfig, session: ExpirySession,
               spot: float) -> tuple[Position, ...]:
    count = int(rng.integers(config.positions_min, config.positions_max + 1))
    found: dict[OptionContract, Position] = {}
    signs: dict[Right, int] = {}
    while len(found) < count:
        right = Right.CALL if rng.random() < 0.5 else Right.PUT
        near = rng.random() < config.near_money_share
        moneyness = rng.normal(0.0, config.near_money_sd if near else config.moneyness_sd)
        # invert the seed's moneyness: call (S-K)/K, put (K-S)/K
        strike = spot / (1 + moneyness) if right is Right.CALL else spot / (1 - moneyness)
        contract = OptionContract(SYMBOL, right, float(round(strike)), session.day)
        quantity = int(config.quantities[int(rng.integers(len(config.quantities)))])
        sign = 1 if rng.random() < 0.5 else -1
        if config.singles_one_sign_per_right:
            sign = signs.setdefault(right, sign)
        found.setdefault(contract, Position(contract, sign * quantity))
    return tuple(found.values())


def _big_book(rng: np.random.Generator, config: GeneratorConfig, session: ExpirySession,
              spot: float) -> tuple[Position, ...]:
    """``big_day_positions`` singles, all in the money: calls at each $1 strike below spot, puts above, the
    nearest first; one sign per right (a long and a short of one right would pair into verticals)."""
    signs = {right: 1 if rng.random() < 0.5 else -1 for right in (Right.CALL, Right.PUT)}
    below, above = math.floor(spot - 0.01), math.ceil(spot + 0.01)
    positions = []
    for n in range(config.big_day_positions):
        right = Right.CALL if n % 2 == 0 else Right.PUT
        strike = below - n // 2 if right is Right.CALL else above + n // 2
        quantity = int(config.quantities[int(rng.integers(len(config.quantities)))])
        positions.append(Position(OptionContract(SYMBOL, right, float(strike), session.day), signs[right] * quantity))
    return tuple(positions)


def _structures(rng: np.random.Generator, config: GeneratorConfig, session: ExpirySession, spot: float,
                singles: tuple[Position, ...]) -> tuple[tuple[str, ...], tuple[Position, ...]]:
    """The day's multi-leg structures: their kinds and their legs (no contract of a single, nor of another)."""
    taken = {p.contract for p in singles}
    kinds: list[str] = []
    legs: list[Position] = []
    for _ in range(int(rng.binomial(config.structures_max, config.structure_probability))):
        kind = ("vertical", "iron condor", "butterfly")[int(rng.choice(3, p=np.asarray(config.structure_weights)))]
        quantity = int(config.quantities[int(rng.integers(len(config.quantities)))])
        strikes = _structure_strikes(rng, config, kind, spot)
        built = tuple(Position(OptionContract(SYMBOL, right, float(strike), session.day), sign * quantity)
                      for right, strike, sign in strikes)
        if len({p.contract for p in built}) < len(built) or any(p.contract in taken for p in built):
            continue  # a strike collided with a position already held: skipped, not merged
        taken.update(p.contract for p in built)
        kinds.append(kind)
        legs += built
    return tuple(kinds), tuple(legs)


def _structure_strikes(rng: np.random.Generator, config: GeneratorConfig, kind: str,
                       spot: float) -> list[tuple[Right, int, int]]:
    """(right, strike, contracts per unit: + long, - short) of each leg."""
    width = int(config.vertical_widths[int(rng.integers(len(config.vertical_widths)))])
    if kind == "iron condor":
        low, high = (float(rng.uniform(config.condor_distance_low, config.condor_distance_high)) for _ in range(2))
        short_put, short_call = round(spot * (1 - low)), round(spot * (1 + high))
        return [(Right.PUT, short_put - width, 1), (Right.PUT, short_put, -1), (Right.CALL, short_call, -1),
                (Right.CALL, short_call + width, 1)]
    right = Right.CALL if rng.random() < 0.5 else Right.PUT
    near = round(spot * (1 + rng.normal(0.0, config.near_money_sd)))
    if kind == "butterfly":  # long the wings, short two of the body
        return [(right, near - width, 1), (right, near, -2), (right, near + width, 1)]
    # a vertical: debit (long the nearer-the-money strike) or credit (short it), even odds
    debit = rng.random() < 0.5
    further = near + width if right is Right.CALL else near - width
    return [(right, near, 1 if debit else -1), (right, further, -1 if debit else 1)]


def _mid(contract: OptionContract, spot: float, vol: float) -> float:
    return max(round(black_scholes(spot, contract.strike, contract.right, vol, WINDOW_SECONDS / 60), 2), 0.01)


def _trader_orders(rng: np.random.Generator, config: GeneratorConfig, positions: tuple[Position, ...],
                   mids: dict[OptionContract, float]) -> tuple[WorkingOrder, ...]:
    """Stops and take-profits on the closing side, and orders adding to the position, as a trader leaves them."""
    orders: list[WorkingOrder] = []
    kinds = (("stop", config.trader_stop_share), ("limit", config.trader_limit_share),
             ("open", config.opening_order_share))
    for position in positions:
        covered = 0  # closing orders together never exceed the position (a trader's bracket would be OCA)
        for kind, share in kinds:
            if rng.random() >= share:
                continue
            distance = float(rng.uniform(config.trader_order_distance_low, config.trader_order_distance_high))
            quantity = int(rng.integers(1, abs(position.quantity) + 1))
            if kind != "open":
                quantity = min(quantity, abs(position.quantity) - covered)
                covered += quantity
            if quantity <= 0:
                continue
            closing = position.closing_side
            side = closing if kind != "open" else closing.opposite
            # a sell stop rests below the mid, a buy stop above; a sell limit above, a buy limit below
            below = (side is Side.SELL) == (kind == "stop")
            price = max(round(mids[position.contract] * (1 - distance if below else 1 + distance), 2), 0.01)
            number = len(orders) + 1
            orders.append(WorkingOrder(
                f"T{number}", position.contract, side, OrderType.STOP if kind == "stop" else OrderType.LIMIT,
                quantity, limit_price=None if kind == "stop" else price, stop_price=price if kind == "stop" else None,
                client_id=0, perm_id=number, owner="TWS"))
    return tuple(orders)


def _stale_stretches(rng: np.random.Generator, config: GeneratorConfig,
                     positions: tuple[Position, ...]) -> dict[OptionContract, tuple[int, int]]:
    stale: dict[OptionContract, tuple[int, int]] = {}
    for position in positions:
        if rng.random() >= config.stale_quote_share:
            continue
        length = int(rng.integers(config.stale_seconds_low, config.stale_seconds_high + 1))
        start = int(rng.integers(length + 1, WINDOW_SECONDS + 1))
        stale[position.contract] = (start, start - length)
    return stale
