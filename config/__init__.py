"""Configuration: the embedded defaults file, its schema and the layered loader."""

from config.loader import LoadedSettings, load_settings
from config.schema import ConfigError, Settings

__all__ = ["ConfigError", "LoadedSettings", "Settings", "load_settings"]
