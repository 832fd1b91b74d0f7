"""User verifiers: an entry point of an installed package, or a ``module:function`` that the
user's config maps a name to.

A plug-in is any callable ``fn(completion: str, item: datalint.load.records.Item) -> float | bool``.
Packages register one under the ``datalint.verifiers`` entry-point group, for example in their
pyproject.toml: ``[project.entry-points."datalint.verifiers"] units = "mypkg.grading:units"``;
or the user's config maps a name: ``[verifiers] units = "mypkg.grading:units"``. Items then say
``"verifier": "units"``. Import strings never come from the data (see :mod:`.registry`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points

from datalint.grade.base import GradingError

ENTRY_POINT_GROUP = "datalint.verifiers"


def load_import_string(spec: str) -> Callable[..., object]:
    """Imports ``module:function`` from the user's config (trusted); never called with data."""
    module_name, _, attr = spec.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:  # a broken user module is a clear error, not a crash
        raise GradingError(f"cannot import verifier module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise GradingError(f"module {module_name!r} has no verifier {attr!r}") from None
    if not callable(target):
        raise GradingError(f"verifier {spec!r} is not callable")
    return target


@lru_cache(maxsize=1)
def entry_point_names() -> frozenset[str]:
    """Names registered in the entry-point group by installed packages (metadata only)."""
    return frozenset(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_entry_point(name: str) -> Callable[..., object] | None:
    """The verifier registered under ``name`` in the entry-point group, or None."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                target = ep.load()
            except Exception as exc:  # a broken third-party package must not crash the run
                raise GradingError(f"entry point verifier {name!r} failed to load: {exc}") from None
            if not callable(target):
                raise GradingError(f"entry point verifier {name!r} is not callable")
            return target
    return None
