"""Output formats: a closed set, one module per format, each exposing the same ``render``.

Modules are imported only when their format is asked for, so ``datalint --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from datalint.findings import Report
    from datalint.rulebook import Rule

FORMATS: tuple[str, ...] = ("rich", "concise", "json", "sarif", "github", "markdown", "html")

_MODULES: dict[str, str] = {
    "rich": "datalint.report.rich_console",
    "concise": "datalint.report.concise",
    "json": "datalint.report.json_format",
    "sarif": "datalint.report.sarif",
    "github": "datalint.report.github",
    "markdown": "datalint.report.markdown",
    "html": "datalint.report.html_format",
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
    """The ``render`` function of format ``name``; ValueError naming the valid ones otherwise.

    The text formats write through an :class:`~datalint.report.escape.InertStream`, so none of
    their lines can start a GitHub workflow command. A module with ``SELF_GUARDED`` guards its own
    output: ``github`` writes real annotations, ``json`` and ``sarif`` escape inside JSON strings.
    """
    try:
        module = import_module(_MODULES[name])
    except KeyError:
        raise ValueError(
            f"unknown output format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None
    render: Renderer = module.render
    if getattr(module, "SELF_GUARDED", False):
        return render

    def guarded(report: Report, rules: Mapping[str, Rule], out: TextIO, **options: Any) -> None:
        from datalint.report.escape import InertStream

        stream = InertStream(out)
        render(report, rules, stream, **options)  # type: ignore[arg-type]
        stream.flush()

    return guarded  # type: ignore[return-value]
