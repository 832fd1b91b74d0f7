"""``datalint check``: lint data files and gate on the result."""

from __future__ import annotations

import sys
from typing import Any

import click

from datalint.cli.errors import EXIT_FAIL, EXIT_PASS, echo_note, fail, friendly_errors
from datalint.cli.options import (
    FiniteFloat,
    answer_extraction_option,
    field_mapping,
    field_options,
    grading_setup,
    model_options,
    pick,
    sampling_options,
    sampling_params,
    served_settings,
)
from datalint.report import FORMATS  # the closed set of formats (imports no format module)


def _split(values: tuple[str, ...]) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(s.strip().upper() for s in v.split(",") if s.strip())
    return out


_INPUT_OPTIONS: tuple[Any, ...] = (
    click.option(
        "--select",
        multiple=True,
        help="Rule codes or prefixes to enable (replaces the default set).",
    ),
    click.option("--extend-select", multiple=True, help="Rule codes or prefixes to add."),
    click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable."),
    click.option(
        "--probe",
        type=click.Path(),
        help="Target evaluation set (JSONL): contamination, similarity and gradient signals.",
    ),
    click.option(
        "--gradient-signals/--no-gradient-signals",
        default=None,
        help="Gradient alignment of each cohort with --probe (one backward pass per cohort, "
        "local models).  [default: when the predictor takes it]",
    ),
    click.option(
        "--rollouts",
        "rollouts_file",
        type=click.Path(),
        help="Precomputed rollouts from `datalint rollout`.",
    ),
    field_options,
    sampling_options,
    click.option(
        "--cohort-size",
        type=click.IntRange(1),
        default=None,
        help="Items per cohort when the data has no `cohort` field.  [default: 4]",
    ),
    click.option(
        "--default-verifier", default=None, help="Verifier for items without one.  [default: exact]"
    ),
    answer_extraction_option,
    click.option(
        "--predictor",
        type=click.Path(),
        envvar="DATALINT_PREDICTOR",
        help="Lift predictor (.onnx).  [default: the shipped one]",
    ),
)


def input_options(func: Any) -> Any:
    """The options that say what to read and how to measure it: shared by check and select."""
    for option in reversed(_INPUT_OPTIONS):
        func = option(func)
    return func


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@input_options
@click.option(
    "--fail-under",
    type=FiniteFloat(),
    default=None,
    help="Fail when the dataset lift score is below this.",
)
@click.option("--static-only", is_flag=True, help="Run only the checks that need no model.")
@click.option(
    "--require-model", is_flag=True, help="Fail (exit 2) instead of skipping the model stages."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="rich",
    envvar="DATALINT_FORMAT",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the report here."
)
@click.option("--statistics", is_flag=True, help="Show counts per rule.")
@click.option(
    "--show-features",
    is_flag=True,
    help="rich format: print all 23 features of every cohort (json always has them).",
)
@click.option(
    "--provenance",
    "provenance_file",
    type=click.Path(dir_okay=False),
    help="Write per-item provenance (pass rate, k, grades, model, decoding, verifier) as a "
    "sidecar JSONL; it is a rollouts file: replay it with --rollouts.",
)
@click.option(
    "--show-items",
    is_flag=True,
    help="rich format: per cohort, each item's pass rate, flags and sampled completions.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the check fails.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def check_command(paths: tuple[str, ...], exit_zero: bool, **flags: Any) -> None:
    """Lint RLVR data files (.jsonl[.gz|.zst], .parquet, .json arrays, saved datasets, folders).

    Runs the static checks, samples rollouts with the policy (or replays existing ones), computes
    the GRPO features per cohort, predicts the lift and reports every finding at file:line.
    """
    with friendly_errors(on_interrupt=lambda: "every finished rollout is kept in the cache"):
        exit_code = _run(paths, flags)
    sys.exit(EXIT_PASS if exit_zero else exit_code)


def build_check(paths: tuple[str, ...], flags: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """The CheckOptions and rules that the flags and the config ask for (check and select)."""
    from datalint.cli.terminal import is_interactive_stream
    from datalint.config import check_selector, load_config, select_rules
    from datalint.pipeline import CheckOptions
    from datalint.rulebook import load_rules

    all_rules = load_rules()
    config = load_config(flags["config_path"], all_rules)
    codes = {r.code for r in all_rules}
    select, extend = _split(flags["select"]), _split(flags["extend_select"])
    ignore = _split(flags["ignore"])
    for selector in (select or []) + (extend or []) + (ignore or []):
        check_selector(selector, codes, where="--select/--ignore: ")
    rules = select_rules(
        all_rules,
        select=select if select is not None else config.get("select"),
        extend_select=(config.get("extend-select") or []) + (extend or []),
        ignore=ignore if ignore is not None else config.get("ignore"),
        overrides=config.get("rules"),
    )
    params = sampling_params(flags, config)
    grading = grading_setup(flags, config)
    how = model_options(flags, config)
    served = None if flags.get("static_only") else served_settings(flags, config)
    opts = CheckOptions(
        paths=list(paths),
        fields=field_mapping(flags, config),
        probe=pick(flags, config, "probe"),
        rollouts_file=flags["rollouts_file"],
        trust_rollouts=bool(pick(flags, config, "trust_rollouts")),
        backend=pick(flags, config, "backend"),
        model=pick(flags, config, "model"),
        rollouts_per_item=params.n,
        adaptive_k=bool(pick(flags, config, "adaptive_k")),
        adaptive_first=pick(flags, config, "adaptive_first"),
        gradient_signals=pick(flags, config, "gradient_signals"),
        adaptive_budget=float(pick(flags, config, "adaptive_budget")),
        temperature=params.temperature,
        max_new_tokens=params.max_new_tokens,
        seed=params.seed,
        cohort_size=pick(flags, config, "cohort_size", 4),
        default_verifier=grading.default_verifier,
        grading=grading,
        static_only=bool(flags.get("static_only")),
        require_model=bool(flags.get("require_model")),
        use_cache=not flags["no_cache"],
        cache_dir=flags["cache_dir"],
        predictor=pick(flags, config, "predictor"),
        fail_under=pick(flags, config, "fail_under") if "fail_under" in flags else None,
        progress=is_interactive_stream(sys.stderr),
        dtype=how.dtype,
        device=how.device,
        system_prompt=how.system_prompt,
        served=served,
    )
    return opts, rules


def _run(paths: tuple[str, ...], flags: dict[str, Any]) -> int:
    from datalint.pipeline import run_check
    from datalint.report import get_renderer
    from datalint.report.escape import unwrap

    opts, rules = build_check(paths, flags)

    def note(message: str) -> None:
        if not flags["quiet"]:
            echo_note(message)

    from datalint.pipeline import CheckTrace

    trace = CheckTrace() if flags["provenance_file"] else None
    report = run_check(opts, rules, notify=note, trace=trace)
    if trace is not None:
        from datalint.rollout.provenance import write_sidecar

        try:
            n = write_sidecar(flags["provenance_file"], opts, trace, opts.default_verifier)
        except OSError as exc:
            fail(f"{flags['provenance_file']}: cannot write provenance: {exc.strerror or exc}")
        note(f"provenance of {n} items written to {flags['provenance_file']}")
    for stage in report.summary.skipped_stages:
        note(f"skipped {stage}")

    render = get_renderer(flags["fmt"])
    rules_by_code = {r.code: r for r in rules}
    options: dict[str, Any] = {"statistics": flags["statistics"]}
    if flags["show_features"] and flags["fmt"] == "rich":
        options["features"] = True
    if flags["show_items"] and flags["fmt"] == "rich":
        options["items"] = True
    if flags["output"]:
        try:
            with open(flags["output"], "w", encoding="utf-8") as out:
                render(report, rules_by_code, out, **options)
        except OSError as exc:
            fail(f"{flags['output']}: cannot write report: {exc.strerror or exc}")
    else:
        # the renderer guards its own output; the github format writes real commands
        render(report, rules_by_code, unwrap(sys.stdout), **options)
    return EXIT_PASS if report.summary.passed else EXIT_FAIL
