"""S012 (a verifier named by an import string in the data) and S014 (a verifier that cannot
grade the item: an unknown name, ``mcq`` without the ``choices`` its gold letter needs).

Both are decided from the name and the item alone, before any rollout: nothing the data names is
imported (see :mod:`datalint.grade.preflight`).
"""

from __future__ import annotations

from datalint.engine import Gate
from datalint.grade.preflight import verifier_problem
from datalint.grade.settings import Grading
from datalint.load.records import Item

TRUSTED_FEATURE = "verifier_trusted"
USABLE_FEATURE = "verifier_usable"


class VerifierNames:
    """Reports ``verifier_trusted`` and ``verifier_usable`` (1 or 0) for every item."""

    def __init__(self, grading: Grading, *, trusted: bool, usable: bool) -> None:
        self._grading = grading
        self._trusted = trusted
        self._usable = usable

    def feed(self, item: Item, gate: Gate) -> None:
        problem = verifier_problem(item, self._grading)
        untrusted = problem is not None and problem.kind == "untrusted-verifier"
        unusable = problem is not None and problem.kind == "unusable-verifier"
        context = {"verifier": problem.verifier, "reason": problem.reason} if problem else {}
        if self._trusted:
            gate.observe(TRUSTED_FEATURE, int(not untrusted), item.source, **context)
        if self._usable:
            gate.observe(USABLE_FEATURE, int(not unusable), item.source, **context)

    def finish(self, gate: Gate) -> None:
        return None
