"""The settings schema: every key, its type and range, and the checks across keys.

What a value may be lives here; where it comes from (defaults file < user file < environment <
credentials < flags) is config/loader.py's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, ValidationInfo, field_validator

from config.alert_urls import check_alert_urls
from config.dividends import DividendFileError, read_schedule
from domain.closing_rules import ClosingRules
from domain.ex_dividend import DividendSchedule
from domain.mode import Mode
from domain.stages import Thresholds

SECRET_KEYS = ("db_password", "telegram_bot_token", "alert_urls")
UNKNOWN_SETTING = "unknown setting; see `cleanup-manager check-config` for the keys"

@dataclass(frozen=True)
class FloatRange:
    """What a float setting may be: finite, above ``low``, at most ``high``."""

    low: float
    high: float
    unit: str  # how the value reads: "a number of seconds", "a fraction", ...
    hint: str = ""
    low_allowed: bool = False  # whether ``low`` itself is a valid value

    def admits(self, value: float) -> bool:
        # NaN fails every comparison, so it would pass a plain "value <= 0" check; inf passes any
        # lower bound. Both are refused here, before any comparison is trusted.
        above = self.low <= value if self.low_allowed else self.low < value
        return math.isfinite(value) and above and value <= self.high

    def describe(self) -> str:
        opening = "[" if self.low_allowed else "("
        return (f"must be {self.unit} in {opening}{self.low:g}, {self.high:g}]"
                + (f", {self.hint}" if self.hint else ""))


_MONEYNESS = FloatRange(0, 0.2, "a fraction", "e.g. 0.01 for 1%")
# Every float setting and its range: one rule for all (tests/unit/test_config.py checks none is missing).
# Upper bounds too: a stale-quote limit of a day, or a 10-minute retry interval, is a disabled guard.
FLOAT_RANGES: dict[str, FloatRange] = {
    "t30_moneyness": _MONEYNESS,
    "t5_moneyness": _MONEYNESS,
    "t2_moneyness": _MONEYNESS,
    "t2_moneyness_long": _MONEYNESS,
    "long_min_bid": FloatRange(0, 5, "dollars per share", "0 sells every long in the money", low_allowed=True),
    "short_assignment_probability": FloatRange(0, 1, "a probability", "1 closes no short beyond the T-2 band"),
    "after_hours_vol_factor": FloatRange(0, 2, "a share of the implied volatility", "e.g. 0.5"),
    "max_slippage": FloatRange(0, 5, "dollars per share"),
    "dispose_band": FloatRange(0, 0.05, "a fraction of the price", "e.g. 0.005 for 0.5%"),
    # max_attempts (10) attempts must fit between T-5 and the close (300 s)
    "attempt_interval_seconds": FloatRange(0, 30, "a number of seconds"),
    "breaker_window_seconds": FloatRange(0, 3600, "a number of seconds"),
    "breaker_min_failure_ratio": FloatRange(0, 1, "a share of the orders sent", "e.g. 0.2; 0 counts failures alone",
                                            low_allowed=True),
    "restart_window_seconds": FloatRange(0, 3600, "a number of seconds"),
    "quote_max_age_seconds": FloatRange(0, 60, "a number of seconds"),
    "option_quote_max_age_seconds": FloatRange(0, 300, "a number of seconds"),
    "thetadata_timeout_seconds": FloatRange(0, 30, "a number of seconds"),
    "assessment_sample_seconds": FloatRange(0, 3600, "a number of seconds"),
    "alert_throttle_seconds": FloatRange(0, 3600, "a number of seconds"),
    "feed_crosscheck_tolerance": FloatRange(0, 0.05, "a fraction", "e.g. 0.002 for 0.2%"),
    # how long a fill may be missing from IB's position reads; beyond 10 minutes the reads are not lagging
    "position_lag_seconds": FloatRange(0, 600, "a number of seconds"),
    "stale_quote_itm_factor": FloatRange(0, 40, "a number of T-2 bands", "2: beyond twice t2_moneyness"),
    # an outage must always be able to page
    "audit_outage_minutes": FloatRange(0, 1440, "minutes", "e.g. 5"),
}


class ConfigError(Exception):
    """One bad setting, described in one line: key, value, where it came from, what is allowed."""

    def __init__(self, key: str, value: object, allowed: str, origin: str = "") -> None:
        self.key, self.value, self.allowed, self.origin = key, value, allowed, origin
        where = f" (from {origin})" if origin else ""
        super().__init__(f"config error: {key}={value!r}{where}: {allowed}")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool
    mode: Mode
    symbol: str

    t30_moneyness: float
    t5_moneyness: float
    t2_moneyness: float
    t2_moneyness_long: float
    lapse_longs: bool
    long_min_bid: float
    short_assignment_probability: float
    after_hours_vol_factor: float
    leave_settled_spreads: bool
    # The next morning's check of what the previous session's expiration exercised or assigned (docs/operations.md)
    dispose_assignments: Literal["off", "alert", "close"]
    dispose_band: float
    ex_dividend_guard: bool
    dividends_file: Path | None
    dividends: str

    max_slippage: float
    max_attempts: int
    attempt_interval_seconds: float
    max_contract_failures: int
    position_lag_seconds: float

    breaker_max_failures: int
    breaker_window_seconds: float
    breaker_min_failure_ratio: float
    restart_max: int
    restart_window_seconds: float

    quote_max_age_seconds: float
    option_quote_max_age_seconds: float
    stale_quote_itm_factor: float

    ib_host: str
    ib_port: int
    ib_client_id: int
    ib_account: str
    ib_messages_per_second: int

    price_source: Literal["thetadata", "ib", "sim"]
    thetadata_url: str

    db_dsn: str
    db_password: SecretStr | None = None
    trader_tz: str
    log_dir: Path
    data_dir: Path
    metrics_host: str
    metrics_port: int

    thetadata_timeout_seconds: float
    feed_failback_polls: int
    feed_crosscheck_tolerance: float

    assessment_sample_seconds: float
    audit_outage_minutes: float
    simulation_dir: Path
    simulation_store: str
    alert_throttle_seconds: float
    after_bell_updates: bool
    telegram_api_url: str
    telegram_allowed_chats: tuple[int, ...]
    telegram_allowed_users: tuple[int, ...]
    control_socket: Path | None

    telegram_bot_token: SecretStr | None = None
    alert_urls: SecretStr | None = None

    @field_validator("telegram_allowed_chats", "telegram_allowed_users", mode="before")
    @classmethod
    def _telegram_ids(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return tuple(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
            except ValueError as error:
                raise ValueError("must be numeric Telegram ids, comma separated") from error
        return value

    @field_validator("telegram_allowed_users")
    @classmethod
    def _user_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(user <= 0 for user in value):
            raise ValueError("must be Telegram user ids, which are positive (negative ids are group chats: "
                             "they belong in telegram_allowed_chats)")
        return value

    @property
    def telegram_users(self) -> tuple[int, ...]:
        """Who may command over Telegram (in an allowed chat). When ``telegram_allowed_users`` is not set:
        the positive ids in ``telegram_allowed_chats``, which are private chats, whose id is the user's
        id. That keeps a configuration from before the two lists existed working, in those chats only."""
        return self.telegram_allowed_users or tuple(chat for chat in self.telegram_allowed_chats if chat > 0)

    @field_validator("control_socket", "dividends_file", mode="before")
    @classmethod
    def _empty_path(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def control_socket_path(self) -> Path:
        return self.control_socket or self.data_dir / "control.sock"

    @field_validator(*FLOAT_RANGES)
    @classmethod
    def _finite_in_range(cls, value: float, info: ValidationInfo) -> float:
        allowed = FLOAT_RANGES[str(info.field_name)]
        if not allowed.admits(value):
            raise ValueError(allowed.describe())
        return value

    @field_validator("max_attempts", "breaker_max_failures", "restart_max", "ib_messages_per_second",
                     "feed_failback_polls", "max_contract_failures")
    @classmethod
    def _positive_count(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be a whole number of at least 1")
        return value

    @field_validator("ib_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("must be a TCP port in 1-65535 (IB Gateway: 4002 paper, 4001 live)")
        return value

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be a TCP port in 1-65535, or 0 to disable the endpoint")
        return value

    @field_validator("ib_client_id")
    @classmethod
    def _client_id(cls, value: int) -> int:
        if not 0 <= value <= 2**31 - 1:
            raise ValueError("must be a non-negative 32-bit integer, unique per API client")
        return value

    @field_validator("trader_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("must be an IANA time zone such as Asia/Hong_Kong") from error
        return value

    @field_validator("db_dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        if value:
            from psycopg2.extensions import parse_dsn

            try:
                parse_dsn(value)
            except Exception as error:
                raise ValueError("must be a libpq DSN such as 'postgresql://user@127.0.0.1:5432/trading_db' "
                                 "or 'host=127.0.0.1 dbname=trading_db user=trader'") from error
        return value

    @field_validator("alert_urls")
    @classmethod
    def _apprise_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            # Apprise itself judges each URL: what it refuses here would stop `run` later, under systemd.
            check_alert_urls(value.get_secret_value())
        return value

    @field_validator("thetadata_url", "telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be an http URL such as http://127.0.0.1:25510/v2")
        return value.rstrip("/")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.t30_moneyness, self.t5_moneyness, self.t2_moneyness, self.t2_moneyness_long)

    @property
    def rules(self) -> ClosingRules:
        return ClosingRules(self.lapse_longs, self.long_min_bid, self.short_assignment_probability,
                            self.after_hours_vol_factor, self.leave_settled_spreads, self.ex_dividend_guard)

    @property
    def dividend_schedule(self) -> DividendSchedule:
        """The ex-dates the calendar knows: ``dividends_file`` (else the shipped estimates) with ``dividends`` over
        it. Checked when the settings are loaded, so a bad file stops the service before it starts."""
        return read_schedule(self.dividends_file, self.dividends)

    @property
    def trading_enabled(self) -> bool:
        return self.enabled and self.mode is not Mode.MONITOR

    def secret(self, key: str) -> str:
        value = getattr(self, key)
        return value.get_secret_value() if value is not None else ""

    @property
    def database_dsn(self) -> str:
        """The DSN with the password from the secret store added; never log this value."""
        if not self.db_dsn or self.db_password is None:
            return self.db_dsn
        from psycopg2.extensions import make_dsn

        return make_dsn(self.db_dsn, password=self.db_password.get_secret_value())



def masked_value(settings: Settings, key: str) -> str:
    value = getattr(settings, key)
    if key in SECRET_KEYS:
        return "(not set)" if value is None else "****** (set)"
    if key == "db_dsn":
        return mask_dsn(value) if value else "(empty: embedded SQLite)"
    return str(value.value if hasattr(value, "value") else value)


def mask_dsn(dsn: str) -> str:
    """Hide any password in a URI (``user:pw@``) or key/value (``password=pw``) DSN."""
    dsn = re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:******@", dsn)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1******", dsn)



def validate(data: Mapping[str, Any], origins: Mapping[str, str]) -> Settings:
    settings = validate_keys(data, origins)
    _check_threshold_order(settings, origins)
    _check_dividends(settings, origins)
    return settings


def validate_keys(data: Mapping[str, Any], origins: Mapping[str, str]) -> Settings:
    """Every key on its own (types, ranges); ConfigError for the first bad one."""
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "config"
        shown = data.get(key, first.get("input"))
        if key in SECRET_KEYS:
            shown = "******"
        elif key == "db_dsn":
            shown = mask_dsn(str(shown))
        raise ConfigError(key, shown, _allowed(first), origins.get(key, "")) from None


def _allowed(error: Mapping[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")


def _check_threshold_order(settings: Settings, origins: Mapping[str, str]) -> None:
    """T-2's threshold is the tightest: t2 <= t5 <= t30 (each the distance out of the money)."""
    pairs = (("t2_moneyness", "t5_moneyness"), ("t2_moneyness_long", "t5_moneyness"), ("t5_moneyness", "t30_moneyness"))
    for tighter, looser in pairs:
        if getattr(settings, tighter) > getattr(settings, looser):
            raise ConfigError(
                tighter, getattr(settings, tighter),
                f"must not exceed {looser}={getattr(settings, looser)} (thresholds narrow toward the close: "
                "t2_moneyness <= t5_moneyness <= t30_moneyness)",
                origins.get(tighter, "defaults"))


def _check_dividends(settings: Settings, origins: Mapping[str, str]) -> None:
    try:
        read_schedule(settings.dividends_file, "")
    except DividendFileError as error:
        raise ConfigError("dividends_file", str(settings.dividends_file or "(the shipped config/dividends.toml)"),
                          f"{error}; correct the file or point dividends_file at a good one",
                          origins.get("dividends_file", "defaults")) from None
    try:
        read_schedule(settings.dividends_file, settings.dividends)
    except DividendFileError as error:
        raise ConfigError("dividends", settings.dividends, str(error), origins.get("dividends", "defaults")) from None



def settings_with(settings: Settings, **changes: Any) -> Settings:
    """A validated copy with some keys changed (runtime `set KEY VALUE`, simulation overrides)."""
    data = settings.model_dump()
    for key in SECRET_KEYS:
        secret = getattr(settings, key)
        data[key] = secret.get_secret_value() if secret is not None else None
    data.update(changes)
    return validate(data, {key: "command" for key in changes})
