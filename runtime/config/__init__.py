"""Configuration: ``supervisor.yaml`` parsed once into typed, validated, frozen objects."""

from ._app import App, KeyedError, Provider, SectionCheck
from ._load import default_config_path, load_config, load_text
from ._model import (DEFAULT_DATABASE_URL, BackoffConfig, Config, DatabaseConfig,
                     GroupSupervision, NodeConfig, RpcLimit, TlsConfig, is_loopback)
from ._schema import Secret, build, opt
from ._yaml import Located, parse_yaml

__all__ = ["App", "KeyedError", "Provider", "SectionCheck", "default_config_path", "load_config", "load_text",
           "DEFAULT_DATABASE_URL", "BackoffConfig", "Config", "DatabaseConfig",
           "GroupSupervision", "NodeConfig", "RpcLimit", "TlsConfig", "is_loopback", "Secret", "build", "opt", "Located",
           "parse_yaml"]
