"""Find the verifier an item names and grade completions with it.

The trust rule: a name in the data selects code only among what the user put there, namely a
built-in, an entry point of an installed package (group ``datalint.verifiers``), or a name the
user's config maps to ``module:function`` (``[verifiers]``). A ``module:function`` string in the
data is never imported (:class:`UntrustedVerifier`; rule S012 reports it before any sampling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from datalint.grade.base import GradingError, Verifier, as_reward
from datalint.grade.math_verifier import MathVerifier
from datalint.grade.mcq import mcq
from datalint.grade.numeric import NumericVerifier
from datalint.grade.plugins import entry_point_names, load_entry_point, load_import_string
from datalint.grade.settings import Grading
from datalint.grade.text import exact, regex
from datalint.load.records import Item

DEFAULT_VERIFIER = "exact"
BUILTIN_VERIFIERS = ("math", "mcq", "exact", "numeric", "regex")
_DEFAULT_GRADING = Grading()


class UntrustedVerifier(GradingError):
    """The data named an import string; it is reported, never imported."""


class UnknownVerifier(GradingError):
    """No built-in, installed entry point or configured verifier has this name."""


def is_import_string(name: str) -> bool:
    return ":" in name


def classify(name: str, grading: Grading = _DEFAULT_GRADING) -> str:
    """Where a verifier name from the data points: builtin, configured, entry-point,
    import-string (untrusted) or unknown. Imports nothing."""
    if name in BUILTIN_VERIFIERS:
        return "builtin"
    if grading.configured(name) is not None:
        return "configured"
    if is_import_string(name):
        return "import-string"
    if name in entry_point_names():
        return "entry-point"
    return "unknown"


def known_names(grading: Grading = _DEFAULT_GRADING) -> list[str]:
    """Every name an item may use, for messages."""
    configured = [name for name, _ in grading.verifiers]
    return [*BUILTIN_VERIFIERS, *configured, *sorted(entry_point_names())]


@dataclass(frozen=True, slots=True)
class _PluginVerifier:
    name: str
    fn: Callable[..., object]

    def __call__(self, completion: str, item: Item) -> float:
        return as_reward(self.fn(completion, item), self.name)


def import_configured(grading: Grading) -> None:
    """Imports every verifier the config names, so a broken one fails before any sampling.

    Raises GradingError naming the key (``verifiers.NAME: ...``).
    """
    for name, _spec in grading.verifiers:
        try:
            get_verifier(name, grading)
        except GradingError as exc:
            raise GradingError(f"verifiers.{name}: {exc}") from None


@lru_cache(maxsize=256)
def get_verifier(
    name: str,
    grading: Grading = _DEFAULT_GRADING,
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
) -> Verifier:
    """The verifier called ``name`` under ``grading``. ``rel_tol`` / ``abs_tol`` configure
    ``numeric``. Raises :class:`UntrustedVerifier` for an import string that the config does not
    hold and :class:`UnknownVerifier` for any other unknown name; nothing from the data is
    imported."""
    kind = classify(name, grading)
    if kind == "builtin":
        return _builtin(name, grading.extraction, rel_tol, abs_tol)
    if kind == "configured":
        spec = grading.configured(name)
        assert spec is not None
        return _PluginVerifier(name, load_import_string(spec))
    if kind == "entry-point":
        plugin = load_entry_point(name)
        if plugin is not None:
            return _PluginVerifier(name, plugin)
    if kind == "import-string":
        raise UntrustedVerifier(
            f"verifier {name!r} is an import string in the data; it was not imported "
            "(map a name to it under [verifiers] in your config)"
        )
    raise UnknownVerifier(
        f"unknown verifier {name!r} (known: {', '.join(known_names(grading))}; "
        "add one under [verifiers] in your config, or install a package that registers "
        "it in entry-point group 'datalint.verifiers')"
    )


def _builtin(name: str, extraction: str, rel_tol: float, abs_tol: float) -> Verifier:
    if name == "numeric":
        return NumericVerifier(rel_tol=rel_tol, abs_tol=abs_tol, extraction=extraction)
    if name == "math":
        return MathVerifier(extraction=extraction)
    return {"mcq": mcq, "exact": exact, "regex": regex}[name]


def verifier_name(item: Item, default_verifier: str = DEFAULT_VERIFIER) -> str:
    return item.verifier or default_verifier


def grade(item: Item, completion: str, grading: Grading = _DEFAULT_GRADING) -> float:
    """The reward of one completion: ``item.verifier``, else the default verifier, decides."""
    name = verifier_name(item, grading.default_verifier)
    return get_verifier(name, grading)(completion, item)
