"""The dividend schedule: the shipped file (config/dividends.toml) or the user's, plus single-entry overrides.

A file holds one table per underlying and one ``YYYY-MM-DD = amount`` line per ex-date. Every fault is one
ConfigError line naming the setting, the file, and what is wrong in it.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from datetime import date
from pathlib import Path

from domain.ex_dividend import Dividend, DividendSchedule

SHIPPED_FILE = Path(__file__).with_name("dividends.toml")
_ENTRY_HELP = 'must be entries "SYMBOL YYYY-MM-DD AMOUNT", comma separated, e.g. "SPY 2026-12-18 2.05"'
_FILE_HELP = "one [SYMBOL] table per underlying, one YYYY-MM-DD = amount line per ex-date (see config/dividends.toml)"


class DividendFileError(ValueError):
    """What is wrong with a schedule: the caller names the setting and where it came from."""


def read_schedule(path: Path | None, overrides: str) -> DividendSchedule:
    """The file's schedule (the shipped one when ``path`` is None) with the ``overrides`` entries over it."""
    return _read_file(path or SHIPPED_FILE, _mtime(path or SHIPPED_FILE)).merged(parse_entries(overrides))


def parse_entries(text: str) -> tuple[Dividend, ...]:
    entries = []
    for part in (p.strip() for p in re.split(r"[,;\n]", text)):
        if not part:
            continue
        fields = part.split()
        if len(fields) != 3:
            raise DividendFileError(f"{part!r}: {_ENTRY_HELP}")
        symbol, day, amount = fields
        entries.append(_dividend(symbol, day, amount, f"{part!r}"))
    return tuple(entries)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # _read_file says why it cannot be read


@functools.lru_cache(maxsize=8)
def _read_file(path: Path, _mtime: float) -> DividendSchedule:
    """Read once per version of the file (the settings are validated again on every runtime change)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise DividendFileError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise DividendFileError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DividendFileError(f"{path} is not valid TOML: {error}") from None
    entries = []
    for symbol, table in data.items():
        if not isinstance(table, dict):
            raise DividendFileError(f"{path}: {symbol} = {table!r}: {_FILE_HELP}")
        entries += [_dividend(symbol, str(day), amount, f"{path}: [{symbol}] {day}") for day, amount in table.items()]
    return DividendSchedule.of(entries)


def _dividend(symbol: str, day: str, amount: object, where: str) -> Dividend:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.]*", symbol):
        raise DividendFileError(f"{where}: {symbol!r} is not a ticker symbol")
    try:
        ex_date = date.fromisoformat(day)
    except ValueError:
        raise DividendFileError(f"{where}: {day!r} is not a date YYYY-MM-DD") from None
    value = float(amount) if isinstance(amount, int | float) and not isinstance(amount, bool) else \
        _number(amount)
    if not (math.isfinite(value) and 0 < value <= 100):
        raise DividendFileError(f"{where}: the amount {amount!r} must be dollars per share in (0, 100]")
    return Dividend(symbol.upper(), ex_date, value)


def _number(text: object) -> float:
    """An amount written as text ("2.05", from the ``dividends`` setting); NaN when it is no number."""
    try:
        return float(str(text))
    except ValueError:
        return math.nan
