"""The user's explicit field mapping: ``[tool.datalint.fields]`` and ``--field TARGET=COLUMN``.

A mapping names, for a native field (``prompt``, ``answer``, ...), the column that holds it, as a
dotted path into nested objects (``reward_model.ground_truth``, ``extra_info.index``). It wins
over layout detection; fields it does not name come from the detected layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from datalint.errors import DatalintError
from datalint.load.layouts import MAPPABLE_FIELDS


class FieldMappingError(DatalintError, ValueError):
    """A malformed mapping; the message names where it came from."""


def check_mapping(mapping: Mapping[str, object], *, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for target, column in mapping.items():
        if target not in MAPPABLE_FIELDS:
            known = ", ".join(MAPPABLE_FIELDS)
            raise FieldMappingError(f"{where}{target}: unknown field (known: {known})")
        if (
            not isinstance(column, str)
            or not column.strip()
            or any(part == "" for part in column.split("."))
        ):
            raise FieldMappingError(
                f"{where}{target}: expected a column name or dotted path such as "
                "'reward_model.ground_truth'"
            )
        out[target] = column
    return out


def parse_field_options(values: Iterable[str]) -> dict[str, str]:
    """``--field prompt=problem --field answer=reward_model.ground_truth`` -> a mapping."""
    pairs: dict[str, str] = {}
    for value in values:
        target, sep, column = value.partition("=")
        if not sep:
            raise FieldMappingError(f"--field {value}: expected TARGET=COLUMN, e.g. prompt=problem")
        pairs[target.strip()] = column.strip()
    return check_mapping(pairs, where="--field ")


def merge_fields(*mappings: Mapping[str, str] | None) -> dict[str, str] | None:
    """Later mappings win per field (the command line over the config file)."""
    merged: dict[str, str] = {}
    for mapping in mappings:
        merged.update(mapping or {})
    return merged or None
