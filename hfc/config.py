"""Config validation with readable errors (the schema is ``hfc/config_schema.yaml``).

The Snakefile validates with ``snakemake.utils.validate`` (which also fills defaults); it
calls :func:`check_config` first because a jsonschema error names the key only in the
``On instance['training']['model']`` form. Here every error names the key as a dotted path,
the value given and what is allowed.
"""

from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from hfc.grid import RADIUS_STUDIES, all_runs, study_radii, study_runs

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")


class ConfigError(ValueError):
    """The config does not match the schema or is inconsistent."""


def load_schema() -> dict:
    """The config schema (a fresh copy: callers may fill or change it)."""
    stat = SCHEMA_PATH.stat()
    return copy.deepcopy(_parsed_schema(stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=2)
def _parsed_schema(_mtime_ns: int, _size: int) -> dict:
    # Read once per process (a Snakefile parse asks three times); libyaml's loader where PyYAML
    # has it: the pure-Python one takes 0.15 s per read of this file.
    with open(SCHEMA_PATH) as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        where = key if error.absolute_path else "the top level"
        return f"unknown key(s) {', '.join(map(repr, unexpected))} in {where}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{key}: {error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "pattern" and error.schema.get("description"):
        wanted = " ".join(str(error.schema["description"]).split())
        return f"{key}: {error.instance!r} is not allowed: {wanted}"
    if error.validator == "required":
        return f"{key}: {error.message}; add it to the config"
    hint = _number_hint(error.instance, error.validator_value) if error.validator == "type" else ""
    return f"{key}: {error.message}{hint}"


def _number_hint(value, expected="number") -> str:
    """How to write a number the schema's type wants.

    YAML 1.1 reads ``1e-3`` (no dot in the mantissa) as a string; a key that takes a whole
    number (type integer, not number) gets 1 or 2 for 1.5, and 2 for 2.0 or "2e0".
    """
    types = {expected} if isinstance(expected, str) else set(expected)
    whole_only = "integer" in types and "number" not in types
    if isinstance(value, bool) or not isinstance(value, (str, float)):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    if whole_only:
        if number.is_integer():
            return f" (this key takes a whole number: write {int(number)})"
        return f" (this key takes a whole number, such as {math.floor(number)} or {math.ceil(number)})"
    if not isinstance(value, str):
        return ""
    dotted = re.sub(r"^([+-]?\d+)([eE])", r"\1.0\2", value.strip())
    also = f" or {dotted}" if dotted != value.strip() else ""
    return f" (YAML reads {value} as a string: write {number!r}{also})"


def _non_finite(value, path: str = "") -> list[str]:
    # JSON schema has no "finite" keyword, and YAML's .nan / .inf pass "type: number".
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path or '(top level)'}: {value!r} is not a finite number; give a finite value"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


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
    problems = [_describe(error) for error in errors] + _non_finite(config)
    if not problems:
        problems = _cross_key_problems(config)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n{lines}")


def _cross_key_problems(config: dict) -> list[str]:
    """What the schema cannot say because it relates two keys (run on a schema-valid config)."""
    problems = []
    if isinstance(config.get("frequency"), dict) and "radii" in config["frequency"]:
        for study in RADIUS_STUDIES:
            try:
                study_radii(config, study)
            except ValueError as error:
                problems.append(str(error))
    response = config.get("response") or {}
    if response.get("enabled") and response.get("studies") and isinstance(config.get("studies"), dict):
        idle = [study for study in response["studies"] if not study_runs(config, study)]
        if idle:
            problems.append(
                f"response.studies names {', '.join(idle)}, which this config trains no model for "
                f"(studies.{idle[0]} is off or empty): turn the study on or leave it out of "
                "response.studies (null sweeps every study that trains a model)"
            )
    return problems


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last).

    Merge keys (``<<: *anchor``, ``<<: [*a, *b]``) work as in YAML: the mapping's own keys
    override the merged ones. Only keys written twice in one mapping are refused, checked in
    every mapping (merged ones too) before PyYAML flattens the merges into it.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._checked: set[int] = set()

    def _check_unique(self, node: yaml.MappingNode) -> None:
        if id(node) in self._checked:
            return
        self._checked.add(id(node))
        seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        self._check_unique(source)
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error names it
                continue
            if first is not None:
                raise ConfigError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1} (first at line "
                    f"{first + 1}); YAML would silently keep only the last value: delete one of them"
                )
            seen[key] = key_node.start_mark.line

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self._check_unique(node)
        return super().construct_mapping(node, deep=deep)


def check_yaml_file(path: str | Path) -> dict:
    """Load a config file, refusing duplicated keys; every error names the file (and line) and the fix."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=_UniqueKeyLoader)
    except ConfigError as error:
        raise ConfigError(f"config file {path}: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not a text file: byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start} is not UTF-8. Give a YAML config file (like config.yaml or configs/paper.yaml)"
        ) from None
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_syntax_message(path, error)) from None
    except yaml.YAMLError as error:  # e.g. a control character (ReaderError)
        text = " ".join(str(error).split())
        raise ConfigError(f"config file {path} is not YAML text: {text}; give a YAML config file") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; give the path of a YAML file") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file {path} holds a YAML {type(loaded).__name__}, not a mapping of keys (section: values); "
            "a config starts with top-level keys such as dataset:, training:"
        )
    return loaded


def _syntax_message(path: str | Path, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "an unknown line"
    what = "; ".join(part for part in (error.context, error.problem) if part)
    line = ""
    if mark is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            line = lines[mark.line].rstrip() if mark.line < len(lines) else ""
        except (OSError, UnicodeDecodeError):
            pass
    shown = f"; that line reads: {line!r}" if line else ""
    tabs = " (YAML indents with spaces, never tabs)" if "\t" in line else ""
    return (
        f"config file {path}: YAML syntax error at {where}: {what}{shown}. Fix that line (or the one before "
        f"it: an unclosed bracket or quote, a wrong indentation, a missing space after ':'){tabs}"
    )


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
    return validate_config(check_yaml_file(path))


def _suite_problems(config: dict, suite: dict, robustness: dict, n_test: int | None, shape: tuple | None) -> list[str]:
    """robustness.suite's Square points among the run's ε / ρ, and its budget within max_minutes."""
    from hfc import attack_suite

    try:
        s = attack_suite.check_settings(suite)
    except ValueError as error:
        return [str(error)]
    problems = []
    rhos = [float(r) for r in robustness.get("rhos") or []]
    if s["square_eps"] is not None:
        stray = [e for e in s["square_eps"] if round(e, 6) not in {round(x, 6) for x in s["eps"]}]
        if stray:
            problems.append(f"robustness.suite.square_eps: {stray} not among robustness.suite.eps {s['eps']}")
    if s["square_rhos"] is not None:
        stray = [r for r in s["square_rhos"] if round(r, 6) not in {round(x, 6) for x in rhos}]
        if stray:
            problems.append(f"robustness.suite.square_rhos: {stray} not among robustness.rhos {rhos}")
    if "square" not in s["attacks"] or shape is None or problems:
        return problems
    n_images = s["test_size"] or n_test
    if n_images is None:
        return problems
    training = config["training"]
    model = training["model"]
    kwargs = {"in_channels": shape[0] or 3, "num_classes": 10, "image_size": shape[1], "mean": [0.5] * (shape[0] or 3),
              "std": [0.25] * (shape[0] or 3), "width": float(training["width_by_model"].get(model, 1.0))}  # fmt: skip
    from hfc.resources import macs_per_image

    seconds = attack_suite.square_worst_case_seconds(
        s, rhos or [0.0], n_images, macs_per_image(model, kwargs), config.get("device", "cpu"), config.get("threads", 1)
    )
    if seconds > 60 * s["max_minutes"]:
        problems.append(
            f"robustness.suite.square_queries: {s['square_queries']} queries (and square_queries_elsewhere "
            f"{s['square_queries_elsewhere']}) on {n_images} images may take Square up to {seconds / 60:.0f} min per "
            f"attack_suite job even at a generous {attack_suite.assumed_macs_per_second(config.get('device', 'cpu'), config.get('threads', 1)) / 1e9:g} "
            f"GMAC/s (every image withstanding every query), more than robustness.suite.max_minutes = {s['max_minutes']:g}; "
            "lower square_queries, narrow square_eps / square_rhos, or raise max_minutes"
        )
    return problems


def check_limits(config: dict, full_sizes: tuple[int, int] | None, shape: tuple | None) -> None:
    """Raise :class:`ConfigError` for sizes that no job could honour, naming each key.

    ``full_sizes`` is (train, test) images of the whole dataset (None when unknown before it is
    read, e.g. an ImageFolder that does not exist yet); ``shape`` is (C, H, W) or None. Run
    after the schema check, on the config with its defaults filled in.
    """
    problems = []
    dataset = config["dataset"]
    n_train = n_test = None
    if full_sizes is not None:
        full_train, full_test = full_sizes
        for key, full in (("train_size", full_train), ("test_size", full_test)):
            size = dataset.get(key)
            if size is not None and size > full:
                problems.append(
                    f"dataset.{key}: {size} is larger than the {full} images of {dataset['name']}'s "
                    f"{key.split('_')[0]} set; use at most {full} (or null for all)"
                )
        n_train = min(dataset.get("train_size") or full_train, full_train)
        n_test = min(dataset.get("test_size") or full_test, full_test)
    where_train = "dataset.train_size" if dataset.get("train_size") else "the whole training set"
    where_test = "dataset.test_size" if dataset.get("test_size") else "the whole test set"

    def at_most(key: str, value, limit, what: str) -> None:
        if value is not None and limit is not None and value > limit:
            problems.append(f"{key}: {value} is larger than the {limit} {what}; use at most {limit} (or null for all)")

    # Sections whose jobs will not run are not held to the dataset's size: the evaluation,
    # training and response settings apply to the models this config trains, and a config
    # that trains none (every study off, e.g. only external_models analysed) uses none of them.
    trains = bool(all_runs(config))
    evaluation = config.get("evaluation", {}) if trains else {}
    at_most("evaluation.train_size", evaluation.get("train_size"), n_train, f"training images ({where_train})")
    at_most("evaluation.test_size", evaluation.get("test_size"), n_test, f"test images ({where_test})")
    studies = config.get("studies") or {}
    robustness = (config.get("robustness") or {}) if studies.get("adversarial") else {}
    response = (config.get("response") or {}) if trains else {}
    at_most("robustness.test_size", robustness.get("test_size"), n_test, f"test images ({where_test})")
    suite = robustness.get("suite") or {}
    if suite.get("enabled"):
        at_most("robustness.suite.test_size", suite.get("test_size"), n_test, f"test images ({where_test})")
    if response.get("enabled"):
        at_most("response.test_size", response.get("test_size"), n_test, f"test images ({where_test})")
    if n_train is not None and trains:
        batch = config["training"]["batch_size"]
        if batch > n_train:
            problems.append(
                f"training.batch_size: {batch} is larger than the {n_train} training images ({where_train}); "
                f"a batch cannot hold more images than the set: use at most {n_train}"
            )
        too_big = [b for b in (studies.get("batch_size") or []) if b > n_train]
        if too_big:
            problems.append(
                f"studies.batch_size: {too_big} larger than the {n_train} training images ({where_train}); "
                "remove them or use a larger training set"
            )
    if suite.get("enabled") and robustness:
        problems += _suite_problems(config, suite, robustness, n_test, shape)
    if shape is not None:
        side = min(shape[1], shape[2])
        rank = robustness.get("svd_rank")
        if rank is not None and rank >= side:
            problems.append(
                f"robustness.svd_rank: {rank} leaves nothing for the trailing part of a {shape[1]}×{shape[2]} "
                f"image, whose rank is at most {side}; use 1 to {side - 1}"
            )
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n{lines}")


def _overlay(base: dict, over: dict) -> dict:
    """``over`` laid over ``base`` section by section, as Snakemake lays a --configfile over the default."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _overlay(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def main(argv: list[str] | None = None) -> int:
    """``python -m hfc.config [FILE ...]``: check config files as the workflow will read them.

    Snakemake reads a ``--configfile`` itself before the workflow starts, and says only "Config
    file is not valid JSON or YAML" for a syntax error (no file, no line) and raises a bare
    UnicodeDecodeError for a binary file. This reads each file with :func:`check_yaml_file`
    (file, line and fix in every message; duplicated keys refused), lays them over the default
    config.yaml in order and checks the result against the schema. Exit status 0 when all is well.
    """
    import sys

    files = list(sys.argv[1:] if argv is None else argv)
    default = SCHEMA_PATH.parent.parent / "config.yaml"
    try:
        merged = check_yaml_file(default) if default.is_file() else {}
        for path in files:
            _overlay(merged, check_yaml_file(path))
        check_config(merged)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"config OK: {', '.join(map(str, files)) or default}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
