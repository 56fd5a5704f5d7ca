"""Alerts the Notifier sends: what they say, how severe they are, and when a repeat is held back.

Pure: no I/O, no clock reads. The throttle is given ``now`` by its caller, and the render helpers
take plain data (contract keys, numbers, strings) so any actor can build an alert without importing
another actor's types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.model import WorkingOrder
from domain.session import EASTERN


class Delivery(StrEnum):
    """What became of one alert on one channel (counted in the metrics)."""

    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"  # the channel's queue was full
    SUPPRESSED = "suppressed"  # held back by the throttle, before any channel


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"severity must be info, warning or critical, got {text!r}") from None


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Alert:
    severity: Severity
    title: str
    body: str
    # Identical keys within the throttle window are one alert; make it name what the alert is about
    # (stage, contract, order), not its changing numbers, so a re-poll does not re-alert.
    key: str


@dataclass(frozen=True)
class AtRiskPosition:
    """One line of the T-30 warning."""

    contract_key: str
    quantity: int
    moneyness: float  # positive: in the money
    probability_itm: float | None = None


class Throttle:
    """Decides whether an alert goes out: one per key per window; repeats are counted, not sent.

    The next alert of a key that goes out after its window says how many were held back, so
    nothing is silently lost. Not thread-safe: its owner (one sender) serialises calls.
    """

    def __init__(self, window_seconds: float) -> None:
        if window_seconds < 0:
            raise ValueError("throttle window must be 0 or more seconds")
        self.window = timedelta(seconds=window_seconds)
        self._last_sent: dict[str, datetime] = {}
        self._held: dict[str, int] = {}
        self.suppressed_total = 0

    def decide(self, alert: Alert, now: datetime) -> Alert | None:
        """The alert to send now (possibly annotated with held-back repeats), or None to suppress."""
        last = self._last_sent.get(alert.key)
        if last is not None and now - last < self.window:
            self._held[alert.key] = self._held.get(alert.key, 0) + 1
            self.suppressed_total += 1
            return None
        self._forget_older_than(now)
        self._last_sent[alert.key] = now
        held = self._held.pop(alert.key, 0)
        if held:
            noun = "repeat" if held == 1 else "repeats"
            alert = replace(alert, body=f"{alert.body}\n({held} identical {noun} suppressed since {last:%H:%M:%S})")
        return alert

    def pending_suppressed(self) -> dict[str, int]:
        """Keys with repeats held back and not yet reported, for the end-of-session summary."""
        return dict(self._held)

    def take_suppressed(self) -> dict[str, int]:
        """As :meth:`pending_suppressed`, and forget them (they are reported by the caller now)."""
        held, self._held = self._held, {}
        return held

    def _forget_older_than(self, now: datetime) -> None:
        # Bounded memory over a long-running service: keys whose window passed carry no state,
        # unless repeats are still waiting to be reported.
        stale = [key for key, at in self._last_sent.items() if now - at >= self.window and key not in self._held]
        for key in stale:
            del self._last_sent[key]


def _pct(value: float) -> str:
    return f"{value:+.2%}"


def at_risk_warning(day: date, minutes_to_close: float, positions: Sequence[AtRiskPosition]) -> Alert:
    """T-30: the positions that could be exercised or assigned if nothing changes."""
    ordered = sorted(positions, key=lambda p: -p.moneyness)
    lines = [f"{len(ordered)} expiring position(s) at risk, {minutes_to_close:.0f} min to the close:"]
    for p in ordered:
        chance = f", P(ITM) {p.probability_itm:.0%}" if p.probability_itm is not None else ""
        lines.append(f"- {p.contract_key} qty {p.quantity:+d}: moneyness {_pct(p.moneyness)}{chance}")
    keys = ",".join(sorted(p.contract_key for p in positions))
    return Alert(Severity.WARNING, f"T-30: {len(ordered)} position(s) at risk of exercise", "\n".join(lines),
                 f"at-risk:{day.isoformat()}:{keys}")


@dataclass(frozen=True)
class DividendRisk:
    """One line of the early-assignment warning: a short call a holder is likely to exercise for the dividend."""

    contract_key: str
    quantity: int
    time_value: float
    dividend: float
    ex_date: date


def ex_dividend_risk(day: date, minutes_to_close: float, positions: Sequence[DividendRisk], plan: str) -> Alert:
    """A short call in the money worth less above intrinsic than tomorrow's dividend: likely assigned tonight,
    whatever its expiry. ``plan``: what the service will do about it (close it, or only this warning)."""
    lines = [f"{len(positions)} short call(s) likely to be exercised early tonight for the dividend, "
             f"{minutes_to_close:.0f} min to the close:"]
    lines += [f"- {p.contract_key} qty {p.quantity:+d}: time value {p.time_value:.2f} below the "
              f"{p.dividend:.2f} dividend (ex-date {p.ex_date.isoformat()})" for p in positions]
    lines.append(plan)
    keys = ",".join(sorted(p.contract_key for p in positions))
    return Alert(Severity.WARNING, f"Ex-dividend: {len(positions)} short call(s) at risk of early assignment",
                 "\n".join(lines), f"ex-dividend:{day.isoformat()}:{keys}")


def ex_dividend_unjudged(contract_key: str, quantity: int, dividend: str) -> Alert:
    """A short call in the money before an ex-date whose time value cannot be known: no fresh option quote."""
    return Alert(Severity.WARNING, f"Ex-dividend: {contract_key} cannot be judged (no option quote)",
                 f"{contract_key} qty {quantity:+d} is in the money and {dividend}; without a fresh quote of the "
                 "option its time value is unknown, so it is neither warned of nor closed as at risk of early "
                 "assignment tonight. Check its price yourself, and the option market data (docs/ib.md, "
                 "Market data).",
                 f"ex-dividend-unjudged:{contract_key}")


def close_filled(contract_key: str, quantity: int, side: str, price: float | None, order_ref: str,
                 slippage: float | None = None) -> Alert:
    at = f" at {price:.2f}" if price is not None else ""
    slip = f" (slippage {slippage:+.2f})" if slippage is not None else ""
    return Alert(Severity.INFO, f"Closed {contract_key}", f"{side} {quantity} {contract_key} filled{at}{slip}.",
                 f"close-filled:{order_ref or contract_key}")


def close_failed(contract_key: str, quantity: int, side: str, error: str, attempt: int | None = None) -> Alert:
    tries = f" after attempt {attempt}" if attempt is not None else ""
    return Alert(Severity.CRITICAL, f"Close FAILED: {contract_key}",
                 f"{side} {quantity} {contract_key} failed{tries}: {error}. The position is still open.",
                 # Per contract, not per attempt: ten retries in a minute are one alert plus a count.
                 f"close-failed:{contract_key}")


def lapse_sent(contract_key: str, quantity: int, status: str, detail: str) -> Alert:
    """A lapse instruction IB took (or did not refuse): the long will not become shares."""
    return Alert(Severity.INFO, f"Lapse sent: {contract_key}",
                 f"{quantity} {contract_key} closed in the money and was not sold: lapse instruction {status}"
                 f"{': ' + detail if detail else ''}. Check tomorrow that no shares were delivered.",
                 f"lapse:{contract_key}")


def lapse_failed(contract_key: str, quantity: int, error: str, cutoff: str) -> Alert:
    return Alert(Severity.CRITICAL, f"Lapse FAILED: {contract_key}",
                 f"{quantity} {contract_key} closed in the money and will be EXERCISED into shares: {error}. "
                 f"What to do: before {cutoff}, submit a lapse (TWS: Option Exercise window, action Lapse), "
                 "or call IB; after it, plan to sell the shares at the next open.",
                 f"lapse:{contract_key}")


def stop_converted(contract_key: str, order_id: str, quantity: int) -> Alert:
    return Alert(Severity.WARNING, f"Stop converted: {contract_key}",
                 f"Protective stop {order_id} ({quantity} {contract_key}) converted to a market order "
                 "before the close.",
                 f"stop-converted:{order_id}")


def breaker_tripped(failures: int, window_seconds: float, last_error: str = "") -> Alert:
    cause = f" Last error: {last_error}." if last_error else ""
    return Alert(Severity.CRITICAL, "Circuit breaker tripped: order flow halted",
                 f"{failures} order failures within {window_seconds:g} s.{cause} "
                 "No closing orders are sent until a person resets the breaker (resume).",
                 "breaker:tripped")


def kill_switch(engaged: bool, who: str) -> Alert:
    if engaged:
        return Alert(Severity.CRITICAL, "Kill switch engaged: automated trading stopped",
                     f"Kill switch engaged by {who}. No orders will be sent until resume.", "kill:on")
    return Alert(Severity.WARNING, "Kill switch released: trading resumed", f"Trading resumed by {who}.", "kill:off")


def mode_changed(mode: str, who: str) -> Alert:
    severity = Severity.CRITICAL if mode == "emergency" else Severity.WARNING
    return Alert(severity, f"Mode: {mode}", f"Mode switched to {mode} by {who}.", f"mode:{mode}")


def supervisor_escalation(child: str, restarts: int, window_seconds: float, error: str) -> Alert:
    return Alert(Severity.CRITICAL, f"Service stopping: {child} keeps crashing",
                 f"{child} crashed {restarts} times within {window_seconds:g} s (last: {error}). "
                 "The service halts trading and exits for systemd to restart it. Check open positions now.",
                 f"escalation:{child}")


def outage(service: str, detail: str, fallback: str | None = None, restored: bool = False) -> Alert:
    """Feed or broker outage. With a fallback the service keeps working and it is a warning."""
    if restored:
        return Alert(Severity.INFO, f"{service} restored", f"{service} is back: {detail}", f"outage:{service}:restored")
    if fallback:
        return Alert(Severity.WARNING, f"{service} down: using {fallback}",
                     f"{service} unavailable ({detail}); continuing on {fallback}.", f"outage:{service}:fallback")
    return Alert(Severity.CRITICAL, f"{service} down", f"{service} unavailable: {detail}. Decisions wait for it.",
                 f"outage:{service}")


@dataclass(frozen=True)
class SessionSummary:
    day: date
    closed: Sequence[str] = ()  # contract keys closed by the service
    failed: Sequence[str] = ()  # contract keys whose close failed
    remaining_at_risk: Sequence[str] = ()  # still open and at risk at the close
    suppressed: Mapping[str, int] | None = None  # alert key -> repeats held back by the throttle
    notes: Iterable[str] = ()


def session_summary(summary: SessionSummary) -> Alert:
    trouble = bool(summary.failed or summary.remaining_at_risk)
    lines = [f"Expiration {summary.day.isoformat()}: {len(summary.closed)} closed, {len(summary.failed)} failed, "
             f"{len(summary.remaining_at_risk)} still at risk."]
    for label, keys in (("Closed", summary.closed), ("Failed", summary.failed),
                        ("Still at risk (may be exercised/assigned)", summary.remaining_at_risk)):
        if keys:
            lines.append(f"{label}: {', '.join(keys)}")
    held = sum((summary.suppressed or {}).values())
    if held:
        lines.append(f"{held} repeated alert(s) were suppressed by the throttle.")
    lines.extend(summary.notes)
    return Alert(Severity.WARNING if trouble else Severity.INFO, f"End of session {summary.day.isoformat()}",
                 "\n".join(lines), f"summary:{summary.day.isoformat()}")


def not_watched(contract_key: str, quantity: int) -> Alert:
    """An expiring cash-settled index option: said once per contract, with why it is left alone."""
    symbol = contract_key.split()[0]
    return Alert(Severity.WARNING, f"Not watched: {contract_key} (cash-settled)",
                 f"{contract_key} qty {quantity:+d}: {symbol} options settle in cash at the index's settlement "
                 "value, not in shares, so exercise or assignment leaves no stock position. The service neither "
                 "judges nor closes them, not even in emergency mode: manage this position yourself.",
                 f"not-watched:{contract_key}")


@dataclass(frozen=True)
class BlockingOrder:
    """A working order on an expiring contract the service may not modify or cancel, as the alert names it."""

    contract_key: str
    side: str
    quantity: int  # remaining
    order_type: str  # the broker's name, e.g. STP, TRAIL, MIT
    price: str  # "stop 1.50", "limit 9.00", "" for none
    owner: str  # "TWS", "API client 23", ...
    order_id: str
    identity: str  # "perm 123456", stable across reads
    held: int  # signed position in the contract; 0 when none
    covers: int  # contracts of the position it covers; 0 for an order that would open one

    @classmethod
    def of(cls, order: WorkingOrder, held: int, covers: int) -> BlockingOrder:
        prices = [f"stop {order.stop_price:.2f}"] if order.stop_price is not None else []
        prices += [f"limit {order.limit_price:.2f}"] if order.limit_price is not None else []
        return cls(order.contract.key, order.side.value, order.remaining, order.broker_type or order.order_type.value,
                   ", ".join(prices), order.owner, order.order_id, order.identity, held, covers)


def blocking_order(order: BlockingOrder) -> Alert:
    """From T-30: an order IB will not let the service convert or cancel, what it leaves at risk, and what to do."""
    price = f" {order.price}" if order.price else ""
    owner = order.owner or "another client"
    named = (f"{order.order_type} {order.side} {order.quantity} {order.contract_key}{price}, placed by {owner}, "
             f"order id {order.order_id} ({order.identity}): IB does not let this service modify or cancel it.")
    if order.covers:
        direction = "long" if order.held > 0 else "short"
        rest = abs(order.held) - order.covers
        effect = (f" It covers {order.covers} of the {abs(order.held)} contracts held {direction}; closing never "
                  f"opens, so the service closes at most the other {rest} and leaves these {order.covers} to the "
                  "order: if it does not fill by the close, they can be exercised or assigned.")
        title = f"Order blocks the close: {order.contract_key}"
    else:
        effect = (" It would open a position in an expiring contract if it fills, and the service cannot cancel "
                  "it at T-2.")
        title = f"Order cannot be cancelled: {order.contract_key}"
    what = (" What to do: cancel or convert it in TWS yourself, or run the service with ib_client_id = 0 so it "
            "can (docs/ib.md).")
    return Alert(Severity.CRITICAL, title, named + effect + what, f"blocking-order:{order.identity}")


def stale_underlying(symbol: str, last_price: float | None, last_at: datetime | None, age_seconds: float | None,
                     closing: Sequence[str], unjudged: Sequence[str], itm_beyond: float, trading: bool) -> Alert:
    """From T-5, once per spell without a fresh price: what the service does on the last price, and what to do."""
    if last_price is None or last_at is None or age_seconds is None:
        happening = f"No {symbol} price at all: its expiring positions cannot be judged."
        key_since = "never"
    else:
        at = last_at.astimezone(EASTERN)
        happening = (f"No fresh {symbol} price: the last fresh one, {last_price:.2f} at {at:%H:%M:%S} ET, is "
                     f"stale for {age_seconds:.0f} s. From T-5 the service closes on it only what it put clearly in "
                     f"the money (beyond {itm_beyond:+.2%}): {', '.join(closing) or 'none'}.")
        key_since = f"{at:%H%M%S}"
    left = f" Not judged, left open: {', '.join(unjudged)}." if unjudged else ""
    mode = "" if trading else " Monitor mode: nothing is traded."
    what = (" What to do: check the price feeds (cleanup-manager feed --check, IB market data) and close by hand "
            f"what is at risk: cleanup-manager ctl close \"{(unjudged or closing or [symbol])[0]}\".")
    return Alert(Severity.CRITICAL, f"No fresh {symbol} price near the close", happening + left + mode + what,
                 f"stale-price:{symbol}:{key_since}")


@dataclass(frozen=True)
class OpenAtBell:
    """One line of the after-the-bell alert."""

    contract_key: str
    quantity: int
    price: float | None  # its underlying's price at the close
    moneyness: float | None
    outlook: str  # domain.settlement.BellOutlook value


def open_at_the_bell(day: date, positions: Sequence[OpenAtBell], structures: Sequence[str] = ()) -> Alert:
    """After the close, once: every expiring position still open, and whether exercise or assignment is likely;
    ``structures``: a line per multi-leg structure among them, with the net shares it delivers at the close."""
    lines = [f"{len(positions)} expiring position(s) still open after the close on {day.isoformat()}:"]
    for p in positions:
        symbol = p.contract_key.split()[0]
        at_close = (f"{symbol} {p.price:.2f} at the close, moneyness {_pct(p.moneyness)}: "
                    if p.price is not None and p.moneyness is not None else "")
        lines.append(f"- {p.contract_key} qty {p.quantity:+d}: {at_close}{p.outlook}")
    if structures:
        lines.append("Of them, legs of one structure (exercise and assignment net out):")
        lines += [f"- {line}" for line in structures]
    lines.append("Holders may exercise until 17:30 ET. A long option in the money is exercised by exception unless "
                 "you send IB a contrary instruction before its cut-off; for a short one, expect the share "
                 "position at the next session's open.")
    return Alert(Severity.CRITICAL, f"{len(positions)} expiring position(s) open at the close", "\n".join(lines),
                 f"open-at-bell:{day.isoformat()}")


@dataclass(frozen=True)
class DeliveredShares:
    """One line of the morning's delivery alert."""

    symbol: str
    shares: int  # signed: bought (long) or sold (short) by the exercises and assignments
    exposure: float | None  # dollars at the closing price
    margin: float | None


def _dollars(value: float | None) -> str:
    return "unknown (no closing price)" if value is None else f"${value:,.0f}"


def morning_delivery(day: date, delivered: Sequence[DeliveredShares], margin_rule: str, disposal: str,
                     still_listed: Sequence[str] = ()) -> Alert:
    """The shares the expiration of ``day`` delivered overnight; ``disposal`` says what happens to them next."""
    lines = [f"{d.symbol}: {'+' if d.shares > 0 else ''}{d.shares} shares "
             f"({'long' if d.shares > 0 else 'short'}), exposure {_dollars(d.exposure)}, margin {_dollars(d.margin)}"
             for d in delivered]
    exposure = sum(d.exposure or 0.0 for d in delivered)
    margin = sum(d.margin or 0.0 for d in delivered)
    body = (f"Exercise/assignment of the {day.isoformat()} expiration delivered:\n" + "\n".join(lines)
            + f"\nTotal exposure ${exposure:,.0f}, margin ${margin:,.0f} ({margin_rule}).\n{disposal}")
    if still_listed:
        body += f"\nStill listed by the broker (not processed yet): {', '.join(still_listed)}."
    return Alert(Severity.CRITICAL, f"Shares delivered by the {day.isoformat()} expiration", body,
                 f"morning:{day.isoformat()}")


def morning_nothing_delivered(day: date, gone: int, still_listed: Sequence[str] = ()) -> Alert:
    body = f"{gone} expiring option position(s) of {day.isoformat()} are gone and no shares came from them."
    if still_listed:
        body += f" Still listed by the broker (not processed yet): {', '.join(still_listed)}: check again later."
    return Alert(Severity.WARNING if still_listed else Severity.INFO, f"Morning check {day.isoformat()}: no shares",
                 body, f"morning:{day.isoformat()}")


def morning_no_record(day: date) -> Alert:
    return Alert(Severity.WARNING, f"Morning check {day.isoformat()}: no evening record",
                 f"The service took no evening record of the {day.isoformat()} session (it was not running after "
                 "the close), so it cannot tell which shares an exercise or assignment delivered. What to do: "
                 "check the account's stock positions in TWS (Portfolio) before the 09:30 ET open.",
                 f"morning:{day.isoformat()}")


def disposal_done(symbol: str, shares: int, side: str, price: float | None, order_ref: str) -> Alert:
    at = f" at {price:.2f}" if price is not None else ""
    return Alert(Severity.INFO, f"Delivered shares flattened: {symbol}",
                 f"{side} {shares} {symbol}{at} ({order_ref}): the shares the expiration delivered are gone.",
                 f"disposal:{symbol}")


def disposal_failed(symbol: str, shares: int, side: str, error: str) -> Alert:
    return Alert(Severity.CRITICAL, f"Disposal FAILED: {symbol}",
                 f"Could not {side.lower()} the {shares} {symbol} shares the expiration delivered: {error}. "
                 "What to do: flatten them by hand in TWS.", f"disposal:{symbol}")
