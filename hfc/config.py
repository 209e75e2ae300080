"""Config validation with readable errors (the schema is ``hfc/config_schema.yaml``).

The Snakefile validates with ``snakemake.utils.validate`` (which also fills defaults); it
calls :func:`check_config` first because a jsonschema error names the key only in the
``On instance['training']['model']`` form. Here every error names the key as a dotted path,
the value given and what is allowed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")


class ConfigError(ValueError):
    """The config does not match the schema or is inconsistent."""


def load_schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        where = key if error.absolute_path else "the top level"
        return f"unknown key(s) {', '.join(map(repr, unexpected))} in {where}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{key}: {error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "required":
        return f"{key}: {error.message}; add it to the config"
    return f"{key}: {error.message}"


_SCALAR_TYPES = {
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def coerce_command_line_values(config: dict) -> dict:
    """Give strings the schema's scalar type where it allows no string; in place, also returned.

    Snakemake parses a nested ``--config`` value with YAML's BaseLoader, which leaves every
    scalar a string: ``--config response='{enabled: true}'`` gives ``{"enabled": "true"}`` and
    ``--config seeds='[0, 1]'`` gives ``["0", "1"]``. Each such string is read as YAML and kept
    only when that gives a value of a type the schema allows there; anything else is left for
    :func:`check_config` to report.
    """

    def coerce(value, schema: dict):
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for key in value:
                if key in properties:
                    value[key] = coerce(value[key], properties[key])
            return value
        if isinstance(value, list):
            items = schema.get("items")
            return [coerce(v, items) for v in value] if isinstance(items, dict) else value
        if not isinstance(value, str):
            return value
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if "string" in types or value in schema.get("enum", []) or not set(types) & set(_SCALAR_TYPES):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if any(_SCALAR_TYPES[t](parsed) for t in types if t in _SCALAR_TYPES) else value

    return coerce(config, load_schema())


def check_config(config: dict) -> None:
    """Raise :class:`ConfigError` listing every schema violation of ``config``."""
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  - {_describe(error)}" for error in errors)
        raise ConfigError(f"invalid config ({len(errors)} problem(s)):\n{lines}")


def _fill_defaults(schema: dict, instance: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(sub, instance[key])


def validate_config(config: dict) -> dict:
    """Check ``config`` and return a copy with the schema's defaults filled in."""
    check_config(config)
    filled = copy.deepcopy(config)
    _fill_defaults(load_schema(), filled)
    return filled


def load_config(path: str | Path) -> dict:
    with open(path) as handle:
        return validate_config(yaml.safe_load(handle))
