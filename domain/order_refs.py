"""Order references (IB ``orderRef``) that name a cleanup action, so a restarted process knows its own orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.model import OptionContract

PREFIX = "CLN"


def make_order_ref(contract: OptionContract, sequence: int) -> str:
    """``CLN-20261127-SPY-635C-3``: session day, contract and the per-contract order sequence."""
    return f"{PREFIX}-{contract.expiry:%Y%m%d}-{contract.symbol}-{contract.strike:g}{contract.right.value}-{sequence}"


def is_cleanup_ref(order_ref: str | None) -> bool:
    return bool(order_ref) and str(order_ref).startswith(PREFIX + "-")


def ref_sequence(order_ref: str) -> int:
    """The sequence number of one of our refs; used to continue numbering after a restart."""
    try:
        return int(order_ref.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def make_combo_ref(contracts: Sequence[OptionContract], sequence: int) -> str:
    """``CLN-20261127-SPY-595C+600C-1``: a combo order closing these legs, numbered per structure."""
    first = contracts[0]
    legs = "+".join(f"{c.strike:g}{c.right.value}" for c in contracts)
    return f"{PREFIX}-{first.expiry:%Y%m%d}-{first.symbol}-{legs}-{sequence}"


def make_disposal_ref(session_day: date, symbol: str) -> str:
    """``CLN-20261127-SPY-STK-DISPOSE``: the one order flattening the shares the ``session_day`` expiration
    delivered in ``symbol``. One ref per session and symbol, so a restart finds the order it sent, never a second."""
    return f"{PREFIX}-{session_day:%Y%m%d}-{symbol}-STK-DISPOSE"
