"""The sections of a configuration file: the keys grouped as a trader reads them ([thresholds], [broker], ...).

Only the files are sectioned. The Settings the code reads stay flat (``settings.t5_moneyness``), and so
do the names everywhere else: ``CLEANUP_T5_MONEYNESS``, ``--set t5_moneyness=...``, ``set t5_moneyness ...``.
A user file may still give a key flat at its top level, as files did before the sections existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.schema import UNKNOWN_SETTING, ConfigError

SECTIONS: dict[str, tuple[str, ...]] = {
    "service": ("enabled", "mode", "symbol", "trader_tz", "log_dir", "data_dir"),
    "thresholds": ("t30_moneyness", "t5_moneyness", "t2_moneyness", "t2_moneyness_long"),
    "rules": ("lapse_longs", "long_min_bid", "short_assignment_probability", "after_hours_vol_factor",
              "leave_settled_spreads"),
    "morning": ("dispose_assignments", "dispose_band"),
    "dividends": ("ex_dividend_guard", "dividends_file", "dividends"),
    "execution": ("max_slippage", "max_attempts", "attempt_interval_seconds", "max_contract_failures",
                  "position_lag_seconds"),
    "safety": ("breaker_max_failures", "breaker_window_seconds", "breaker_min_failure_ratio", "restart_max",
               "restart_window_seconds"),
    "prices": ("quote_max_age_seconds", "option_quote_max_age_seconds", "stale_quote_itm_factor", "price_source",
               "thetadata_url", "thetadata_timeout_seconds", "feed_failback_polls", "feed_crosscheck_tolerance"),
    "broker": ("ib_host", "ib_port", "ib_client_id", "ib_account", "ib_messages_per_second"),
    "audit": ("db_dsn", "db_password", "assessment_sample_seconds", "audit_outage_minutes"),
    "alerts": ("alert_urls", "alert_throttle_seconds", "after_bell_updates"),
    "control": ("telegram_api_url", "telegram_allowed_chats", "telegram_allowed_users", "telegram_bot_token",
                "control_socket"),
    "metrics": ("metrics_host", "metrics_port"),
    "simulation": ("simulation_dir", "simulation_store"),
}
SECTION_OF: dict[str, str] = {key: section for section, keys in SECTIONS.items() for key in keys}


def flatten_sections(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A file's settings by flat key: each ``[section]`` table's keys and the top level's flat ones.

    A table is a section (no setting takes a table as its value). Raises ConfigError for an unknown
    section, a key in a section that does not hold it, and a key given both flat and in its section.
    Unknown flat keys are left to the loader, which refuses them in every layer alike.
    """
    flat: dict[str, Any] = {}
    sectioned: set[str] = set()
    for name, value in data.items():
        if not isinstance(value, Mapping):
            if name in sectioned:
                _twice(name, value, origin)
            flat[name] = value
            continue
        if name not in SECTIONS:
            raise ConfigError(name, dict(value), f"unknown section; the sections are {', '.join(SECTIONS)}", origin)
        for key, item in value.items():
            if SECTION_OF.get(key) != name:
                belongs = f"{key} belongs in [{SECTION_OF[key]}]" if key in SECTION_OF else UNKNOWN_SETTING
                raise ConfigError(f"{name}.{key}", item, f"not a setting of [{name}]: {belongs}", origin)
            if key in flat:
                _twice(key, item, origin)
            flat[key] = item
            sectioned.add(key)
    return flat


def _twice(key: str, value: object, origin: str) -> None:
    raise ConfigError(f"{SECTION_OF[key]}.{key}", value,
                      f"given twice, in [{SECTION_OF[key]}] and as the flat key {key}: keep one of the two", origin)
