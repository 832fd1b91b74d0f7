"""Find the verifier an item names and grade completions with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from datalint.grade.base import GradingError, Verifier, as_reward
from datalint.grade.mcq import mcq
from datalint.grade.numeric import NumericVerifier
from datalint.grade.plugins import load_entry_point, load_import_string
from datalint.grade.text import exact, regex
from datalint.load.records import Item

DEFAULT_VERIFIER = "exact"
BUILTIN_VERIFIERS = ("math", "mcq", "exact", "numeric", "regex")


def _math(completion: str, item: Item) -> float:
    from datalint.grade.math_verifier import math_answer  # keeps math-verify off the import path

    return math_answer(completion, item)


@dataclass(frozen=True, slots=True)
class _PluginVerifier:
    name: str
    fn: Callable[..., object]

    def __call__(self, completion: str, item: Item) -> float:
        return as_reward(self.fn(completion, item), self.name)


@lru_cache(maxsize=256)
def get_verifier(name: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> Verifier:
    """The verifier called ``name``: a built-in, ``module:function``, or an entry point.

    ``rel_tol`` / ``abs_tol`` configure ``numeric``. Raises GradingError for an unknown name.
    """
    builtin: dict[str, Verifier] = {
        "math": _math,
        "mcq": mcq,
        "exact": exact,
        "regex": regex,
        "numeric": NumericVerifier(rel_tol=rel_tol, abs_tol=abs_tol),
    }
    if name in builtin:
        return builtin[name]
    if ":" in name:
        return _PluginVerifier(name, load_import_string(name))
    plugin = load_entry_point(name)
    if plugin is None:
        known = ", ".join(BUILTIN_VERIFIERS)
        raise GradingError(
            f"unknown verifier {name!r} (built-ins: {known}; or module:function, "
            "or an entry point in group 'datalint.verifiers')"
        )
    return _PluginVerifier(name, plugin)


def verifier_name(item: Item, default_verifier: str = DEFAULT_VERIFIER) -> str:
    return item.verifier or default_verifier


def grade(item: Item, completion: str, *, default_verifier: str = DEFAULT_VERIFIER) -> float:
    """The reward of one completion: ``item.verifier``, else ``default_verifier``, decides."""
    return get_verifier(verifier_name(item, default_verifier))(completion, item)
