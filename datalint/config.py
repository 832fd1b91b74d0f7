"""Configuration: ``datalint.toml`` or ``[tool.datalint]`` in ``pyproject.toml``.

Discovery follows ruff: starting at the working directory and walking up, the first directory
holding ``datalint.toml`` (or a ``pyproject.toml`` with a ``[tool.datalint]`` table) wins, and
nothing is merged from further up. The folders of the data being linted play no part: a
``datalint.toml`` that a vendor ships beside its data is never read. A ``datalint.toml`` holds
its options at the top level or under ``[tool.datalint]``, as pyproject.toml does.
``--config FILE`` overrides discovery. Unknown keys and unknown rule codes are errors that name
the key (yamllint's strictness), and so is a number out of its range (a cohort size of 0, a NaN
threshold, an S007 limit below one byte).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalint.errors import DatalintError
from datalint.rulebook import COMPARATORS, Rule, threshold_problem

OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "select": (list,),
    "ignore": (list,),
    "extend-select": (list,),
    "fail-under": (int, float),
    "probe": (str,),
    "model": (str,),
    "backend": (str,),
    "dtype": (str,),
    "device": (str,),
    "system-prompt": (str,),
    "cohort-size": (int,),
    "rollouts-per-item": (int,),
    "temperature": (int, float),
    "max-new-tokens": (int,),
    "seed": (int,),
    "default-verifier": (str,),
    "answer-extraction": (str,),
    "predictor": (str,),
    "trust-rollouts": (bool,),
    "adaptive-k": (bool,),
    "adaptive-first": (int,),
    "gradient-signals": (bool,),
    "adaptive-budget": (int, float),
    # --backend openai
    "base-url": (str,),
    "api-key-env": (str,),
    "concurrency": (int,),
    "request-timeout": (int, float),
    "model-revision": (str,),
    "rules": (dict,),
    "verifiers": (dict,),
    "fields": (dict,),
}
RULE_OVERRIDE_KEYS = ("level", *COMPARATORS)
# the smallest value that makes sense (inclusive); every number must also be finite
OPTION_MINIMUMS: dict[str, int] = {
    "cohort-size": 1,
    "rollouts-per-item": 1,
    "adaptive-first": 1,
    "adaptive-budget": 0,
    "temperature": 0,
    "max-new-tokens": 1,
    "seed": 0,
    "concurrency": 1,
    "request-timeout": 0,
}


class ConfigError(DatalintError, ValueError):
    pass


@dataclass(slots=True)
class Config:
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


def find_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "datalint.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("tool"), dict) and "datalint" in data["tool"]


def load_config(explicit: str | None, rules: tuple[Rule, ...]) -> Config:
    path = Path(explicit) if explicit else find_config()
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("datalint", {})
        prefix = "tool.datalint."
    else:
        table, prefix = _datalint_toml_table(data, path)
    validate_options(table, rules, where=f"{path}: {prefix}")
    return Config(path=str(path), options=table)


def _datalint_toml_table(data: dict[str, Any], path: Path) -> tuple[dict[str, Any], str]:
    """A datalint.toml holds the options at its top level, or under ``[tool.datalint]`` exactly
    as pyproject.toml does (so the README's snippet can be pasted into either file)."""
    if "tool" not in data:
        return data, ""
    tool = data["tool"]
    if not isinstance(tool, dict) or "datalint" not in tool:
        return data, ""  # reported as the unknown option "tool"
    others = sorted(k for k in tool if k != "datalint")
    if others:
        raise ConfigError(f"{path}: tool.{others[0]}: unknown table (only [tool.datalint])")
    loose = sorted(k for k in data if k != "tool")
    if loose:
        raise ConfigError(
            f"{path}: {loose[0]}: put it under [tool.datalint] or drop that header, not both"
        )
    if not isinstance(tool["datalint"], dict):
        raise ConfigError(f"{path}: tool.datalint: expected a table")
    return tool["datalint"], "tool.datalint."


def option_problem(key: str, value: float) -> str | None:
    """Why ``value`` is out of range for the numeric option ``key`` (kebab-case), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number (got {value})"
    minimum = OPTION_MINIMUMS.get(key)
    if minimum is not None and value < minimum:
        return f"must be at least {minimum} (got {value})"
    if key == "adaptive-budget" and not 0 < value <= 1:
        return f"must be a share of fixed k's rollouts, above 0 and at most 1 (got {value})"
    return None


def validate_options(table: dict[str, Any], rules: tuple[Rule, ...], *, where: str) -> None:
    by_code = {r.code: r for r in rules}
    codes = set(by_code)
    for key, value in table.items():
        if key not in OPTION_TYPES:
            known = ", ".join(sorted(OPTION_TYPES))
            raise ConfigError(f"{where}{key}: unknown option (known: {known})")
        expected = OPTION_TYPES[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise ConfigError(f"{where}{key}: expected {_type_words(expected)}")
        if isinstance(value, int | float) and (problem := option_problem(key, value)):
            raise ConfigError(f"{where}{key}: {problem}")
        if key in ("select", "ignore", "extend-select"):
            for selector in value:
                if not isinstance(selector, str):
                    raise ConfigError(f"{where}{key}: entries must be rule codes or prefixes")
                check_selector(selector, codes, where=f"{where}{key}: ")
    validate_verifiers(table, where=where)
    validate_fields(table, where=where)
    for code, override in table.get("rules", {}).items():
        if code not in codes:
            raise ConfigError(f"{where}rules.{code}: unknown rule code")
        if not isinstance(override, dict):
            raise ConfigError(f"{where}rules.{code}: expected a table")
        comparators = [k for k in override if k in COMPARATORS]
        if len(comparators) > 1:
            raise ConfigError(f"{where}rules.{code}: give one threshold, not {comparators}")
        for key, val in override.items():
            if key not in RULE_OVERRIDE_KEYS:
                known = ", ".join(RULE_OVERRIDE_KEYS)
                raise ConfigError(f"{where}rules.{code}.{key}: unknown key (known: {known})")
            if key == "level" and val not in ("error", "warning"):
                raise ConfigError(f"{where}rules.{code}.level: must be 'error' or 'warning'")
            if key != "level" and (not isinstance(val, (int, float)) or isinstance(val, bool)):
                raise ConfigError(f"{where}rules.{code}.{key}: expected a number")
            if key != "level" and (problem := threshold_problem(by_code[code], float(val))):
                raise ConfigError(f"{where}rules.{code}.{key}: {problem}")


_VERIFIER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_IMPORT_STRING = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def validate_verifiers(table: dict[str, Any], *, where: str) -> None:
    """``[verifiers]``: names the data may use, each mapped to ``module:function`` (the only
    import strings datalint follows); and ``answer-extraction``, one of the known modes."""
    from datalint.grade.registry import BUILTIN_VERIFIERS
    from datalint.grade.settings import EXTRACTION_MODES

    mode = table.get("answer-extraction")
    if mode is not None and mode not in EXTRACTION_MODES:
        known = ", ".join(EXTRACTION_MODES)
        raise ConfigError(f"{where}answer-extraction: unknown mode {mode!r} (known: {known})")
    for name, spec in table.get("verifiers", {}).items():
        key = f"{where}verifiers.{name}"
        if not _VERIFIER_NAME.fullmatch(name):
            raise ConfigError(f"{key}: a verifier name is letters, digits, '_' and '-'")
        if name in BUILTIN_VERIFIERS:
            raise ConfigError(f"{key}: '{name}' is a built-in verifier; pick another name")
        if not isinstance(spec, str) or not _IMPORT_STRING.fullmatch(spec):
            raise ConfigError(f'{key}: expected "module:function" (e.g. "mypkg.grading:units")')


def validate_fields(table: dict[str, Any], *, where: str) -> None:
    """``fields``: native field -> the column (dotted path) that holds it in the user's data."""
    from datalint.load.fields import FieldMappingError, check_mapping

    try:
        check_mapping(table.get("fields", {}), where=f"{where}fields.")
    except FieldMappingError as exc:
        raise ConfigError(str(exc)) from None


def _type_words(types: tuple[type, ...]) -> str:
    names = {list: "a list", dict: "a table", str: "a string", int: "an integer", float: "a number"}
    return " or ".join(names[t] for t in types)


def check_selector(selector: str, codes: set[str], *, where: str = "") -> None:
    if selector == "ALL":
        return
    if not any(code.startswith(selector) for code in codes):
        raise ConfigError(f"{where}{selector}: no rule code matches this selector")


def select_rules(
    rules: tuple[Rule, ...],
    *,
    select: list[str] | None,
    extend_select: list[str] | None,
    ignore: list[str] | None,
    overrides: dict[str, dict[str, Any]] | None,
) -> tuple[Rule, ...]:
    """Active rules: ``select`` replaces the default set, ``extend-select`` adds, ``ignore`` drops.

    The longer selector wins, as in ruff: ``select=["RW"]`` with ``ignore=["RW1"]`` keeps RW001
    and drops RW101; ``ignore=["RW"]`` with ``extend-select=["RW101"]`` keeps RW101. On a tie,
    ignore wins.
    """

    def match_len(code: str, selectors: list[str] | None) -> int:
        best = -1
        for s in selectors or ():
            if s == "ALL":
                best = max(best, 0)
            elif code.startswith(s):
                best = max(best, len(s))
        return best

    active: list[Rule] = []
    for rule in rules:
        base = (0 if rule.default else -1) if select is None else match_len(rule.code, select)
        chosen = max(base, match_len(rule.code, extend_select))
        if chosen >= 0 and chosen > match_len(rule.code, ignore):
            over = (overrides or {}).get(rule.code)
            active.append(rule.with_overrides(over) if over else rule)
    return tuple(active)
