"""How a run grades: the default verifier, the names the user's config maps to code, and the
answer-extraction mode. One frozen, picklable value, so it reaches spawned workers unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EXTRACTION_MODES = ("strict", "boxed", "gsm8k", "last-number", "math-verify")
DEFAULT_EXTRACTION = "strict"


@dataclass(frozen=True, slots=True)
class Grading:
    """``verifiers`` holds the config's ``[verifiers]`` table as (name, "module:function") pairs:
    the only import strings datalint ever follows (config is the user's own, data is not)."""

    default_verifier: str = "exact"
    verifiers: tuple[tuple[str, str], ...] = ()
    extraction: str = DEFAULT_EXTRACTION

    @classmethod
    def build(
        cls,
        *,
        default_verifier: str = "exact",
        verifiers: Mapping[str, str] | None = None,
        extraction: str = DEFAULT_EXTRACTION,
    ) -> Grading:
        return cls(default_verifier, tuple(sorted((verifiers or {}).items())), extraction)

    def configured(self, name: str) -> str | None:
        """The import string the config maps ``name`` to, or None."""
        return dict(self.verifiers).get(name)
