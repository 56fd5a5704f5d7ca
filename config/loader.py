"""Layered configuration: defaults file < user file < CLEANUP_* environment < credentials < flags.

The schema (config/schema.py) validates the merged result. The layering is done here rather than by
pydantic-settings' source chain because ``check-config`` must say which layer every value came from,
and an error must name the layer (and the variable) that supplied the bad value.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.schema import SECRET_KEYS, UNKNOWN_SETTING, ConfigError, Settings, masked_value, validate, validate_keys
from config.sections import SECTION_OF, flatten_sections

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "CLEANUP_"
# Variables that steer the loader itself rather than naming a setting.
LOADER_VARIABLES = {"CLEANUP_CONFIG", "CLEANUP_CREDENTIALS_DIR"}


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    origins: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> list[tuple[str, str, str, str]]:
        """(section, key, masked value, origin) for every setting, section by section as the files hold them."""
        return [(section, key, masked_value(self.settings, key), self.origins.get(key, "defaults"))
                for key, section in SECTION_OF.items()]



def _read_text(path: Path, key: str) -> str:
    """A configuration or credential file as UTF-8 text, or one line saying why it cannot be read."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(key, str(path), f"cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(key, str(path), f"not UTF-8 text (at byte offset {error.start}: {error.reason}); "
                                          "save the file as UTF-8") from None


def _read_user_file(path: Path, origin: str) -> dict[str, Any]:
    text = _read_text(path, "config")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ConfigError("config", str(path), f"not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                                               f"{error}") from error
    if not isinstance(data, dict):
        raise ConfigError("config", str(path), "must hold one object of settings")
    return flatten_sections(data, origin)


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in LOADER_VARIABLES:
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in Settings.model_fields:
            raise ConfigError(name, value, UNKNOWN_SETTING)
        values[key] = value
    return values


def _from_credentials(directory: Path | None) -> dict[str, str]:
    """Secrets as files named after their key, e.g. systemd's ``LoadCredential=db_password:...``."""
    if directory is None or not directory.is_dir():
        return {}
    found = {key: _read_text(directory / key, key).strip() for key in SECRET_KEYS if (directory / key).is_file()}
    # An empty file means "not set": systemd's LoadCredential= needs every file to exist.
    return {key: value for key, value in found.items() if value}


@functools.cache
def default_values() -> Mapping[str, Any]:
    """The embedded defaults (config/defaults.toml), before any other layer: for code with no settings at hand
    (the paper broker built by a test) that must still agree with the service's."""
    return MappingProxyType(flatten_sections(tomllib.loads(DEFAULTS_FILE.read_text()), "defaults"))


def load_settings(
    config_path: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Merge every layer, validate, and return the settings with the origin of each value.

    Raises ConfigError for the first bad value; the CLI prints it and exits with status 2.
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = [("defaults", dict(default_values()))]
    config_path = config_path or (Path(environ["CLEANUP_CONFIG"]) if environ.get("CLEANUP_CONFIG") else None)
    if config_path is not None:
        origin = f"file {config_path}"
        layers.append((origin, _read_user_file(config_path, origin)))
    layers.append(("environment", _from_environment(environ)))
    credentials = environ.get("CLEANUP_CREDENTIALS_DIR") or environ.get("CREDENTIALS_DIRECTORY")
    layers.append(("credentials", _from_credentials(Path(credentials) if credentials else None)))
    layers.append(("command line", dict(flags or {})))

    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, values in layers:
        _refuse_unknown(values, origin)
        for key, value in values.items():
            merged[key] = value
            origins[key] = f"environment CLEANUP_{key.upper()}" if origin == "environment" else origin
    return LoadedSettings(validate(merged, origins), origins)


def check_overrides(changes: Mapping[str, Any]) -> None:
    """Each key a setting and each value valid on its own, e.g. a scenario's config block before it runs.

    How values relate (t2 <= t5 <= t30) depends on the settings they are applied to, so that is
    checked when they are, by settings_with. Raises ConfigError; the caller says where they came from.
    """
    _refuse_unknown(changes)
    validate_keys({**default_values(), **changes}, {})




def _refuse_unknown(values: Mapping[str, Any], origin: str = "") -> None:
    for key, value in values.items():
        if key not in Settings.model_fields:
            raise ConfigError(key, value, UNKNOWN_SETTING, origin)
