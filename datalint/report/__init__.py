"""Output formats: a closed set, one module per format, each exposing the same ``render``.

Modules are imported only when their format is asked for, so ``datalint --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from datalint.findings import Report
    from datalint.rulebook import Rule

FORMATS: tuple[str, ...] = ("rich", "concise", "json", "sarif", "github")

_MODULES: dict[str, str] = {
    "rich": "datalint.report.rich_console",
    "concise": "datalint.report.concise",
    "json": "datalint.report.json_format",
    "sarif": "datalint.report.sarif",
    "github": "datalint.report.github",
}


class Renderer(Protocol):
    def __call__(
        self,
        report: Report,
        rules: Mapping[str, Rule],
        out: TextIO,
        *,
        statistics: bool = False,
        color: bool | None = None,
    ) -> None: ...


def get_renderer(name: str) -> Renderer:
    """The ``render`` function of format ``name``; ValueError naming the valid ones otherwise."""
    try:
        module = _MODULES[name]
    except KeyError:
        raise ValueError(
            f"unknown output format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None
    return import_module(module).render  # type: ignore[no-any-return]
