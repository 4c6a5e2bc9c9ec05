"""Typed, validated station configuration."""

from inspector.config.loader import DEFAULT_CONFIG, config_from_dict, load_config, write_config
from inspector.config.schema import Config

__all__ = ["DEFAULT_CONFIG", "Config", "config_from_dict", "load_config", "write_config"]
