"""``datalint select``: write the winners (rows unchanged) and, on request, every other row."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from datalint.cli.check import build_check, input_options
from datalint.cli.errors import EXIT_PASS, echo_note, fail, friendly_errors
from datalint.cli.options import FiniteFloat


@click.command("select")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="Kept rows: a file for one input file, a folder for several or for a folder.",
)
@click.option(
    "--rejects",
    type=click.Path(),
    help="Every other row, each with an added `datalint_reasons` field (same file/folder rule).",
)
@click.option("--top", "top_text", help="Keep the best units by predicted lift: 30% or a count.")
@click.option("--min-lift", type=FiniteFloat(), default=None, help="Keep units whose lift >= X.")
@click.option(
    "--pass-band",
    "band_text",
    metavar="LOW,HIGH",
    help="Keep units whose pass rate lies strictly between LOW and HIGH (open-r1: 0.1,0.6).",
)
@click.option(
    "--band-inclusive", is_flag=True, help="Include the band's ends (LOW <= rate <= HIGH)."
)
@click.option(
    "--preset",
    type=click.Choice(["open-r1"]),
    help="A named recipe: open-r1 = --pass-band 0.1,0.6 --by item, 8 samples at T=0.7.",
)
@click.option(
    "--by",
    type=click.Choice(["cohort", "item"]),
    default=None,
    help="Keep or drop whole cohorts, or single items.  [default: cohort]",
)
@click.option(
    "--provenance-columns",
    is_flag=True,
    help="Add pass_rate, pass_rate_rewards, pass_rate_generations and datalint_provenance to "
    "the kept rows (as open-r1 stores them).",
)
@click.option(
    "--provenance",
    "provenance_file",
    type=click.Path(dir_okay=False),
    help="Write the per-item provenance sidecar (a rollouts file; replay it with --rollouts).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary: text on stderr, or json on stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
@input_options
def select_command(paths: tuple[str, ...], **flags: Any) -> None:
    """Write the rows worth training on, unchanged, in the input's own layout and file type.

    Runs the check pipeline (the rollout cache makes `select` after `check` sample nothing),
    then keeps cohorts (or items) by predicted lift and/or by the pass-rate band. Exit 0 when
    the outputs were written, 2 on usage or input errors.
    """
    with friendly_errors(on_interrupt=lambda: "every finished rollout is kept in the cache"):
        _run(paths, flags)
    sys.exit(EXIT_PASS)


def _criteria(flags: dict[str, Any]) -> Any:
    from datalint.select.criteria import PRESETS, Criteria, parse_band, parse_top

    preset = PRESETS.get(flags["preset"] or "", {})
    band = parse_band(flags["band_text"]) if flags["band_text"] else preset.get("pass_band")
    for name in ("rollouts_per_item", "temperature"):
        if name in preset and flags.get(name) is None:
            flags[name] = preset[name]
    criteria = Criteria(
        top=parse_top(flags["top_text"]) if flags["top_text"] else None,
        min_lift=flags["min_lift"],
        pass_band=band,  # type: ignore[arg-type]
        band_inclusive=flags["band_inclusive"],
        by=flags["by"] or preset.get("by", "cohort"),  # type: ignore[arg-type]
    )
    if criteria.empty:
        fail("select needs a criterion: --top, --min-lift, --pass-band or --preset")
    return criteria


def _run(paths: tuple[str, ...], flags: dict[str, Any]) -> None:
    from datalint.select.run import run_select

    criteria = _criteria(flags)
    opts, rules = build_check(paths, flags)

    def note(message: str) -> None:
        if not flags["quiet"]:
            echo_note(message)

    result = run_select(
        opts,
        rules,
        criteria,
        flags["output"],
        flags["rejects"],
        provenance_columns=flags["provenance_columns"],
        provenance=flags["provenance_file"],
        notify=note,
    )
    summary = result.as_dict()
    if flags["fmt"] == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    for line in describe(summary):
        echo_note(line)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4g}"


def describe(summary: dict[str, Any]) -> list[str]:
    total = summary["kept"] + summary["rejected"] + len(summary["invalid"])
    lines = [
        f"kept {summary['kept']} of {total} rows ({summary['kept_cohorts']} of "
        f"{summary['cohorts']} measured cohorts); rejected {summary['rejected']}, "
        f"{len(summary['invalid'])} lines not valid records",
        f"predicted lift: kept {_num(summary['lift']['kept'])} vs whole "
        f"{_num(summary['lift']['whole'])} (size-weighted mean, as the lift score)",
    ]
    for entry in summary["invalid"][:10]:
        lines.append(
            f"{entry['path']}:{entry['line']}: not a valid record ({', '.join(entry['reasons'])})"
        )
    if len(summary["invalid"]) > 10:
        lines.append(f"... and {len(summary['invalid']) - 10} more invalid lines (see --rejects)")
    for f in summary["files"]:
        where = f" and {f['rejects_to']}" if f["rejects_to"] else ""
        lines.append(f"{f['path']} -> {f['kept_to']}{where}")
    return lines
