"""Configuration: the embedded defaults file, its schema and the layered loader."""

from config.settings import ConfigError, LoadedSettings, Settings, load_settings

__all__ = ["ConfigError", "LoadedSettings", "Settings", "load_settings"]
