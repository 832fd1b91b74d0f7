"""``datalint check``: lint data files and gate on the result."""

from __future__ import annotations

import sys
from typing import Any

import click

from datalint.cli.errors import EXIT_FAIL, EXIT_PASS, fail, friendly_errors

FORMATS = ("rich", "concise", "json", "sarif", "github")


def _split(values: tuple[str, ...]) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(s.strip().upper() for s in v.split(",") if s.strip())
    return out


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DATALINT_CONFIG",
    help="Config file (datalint.toml or pyproject.toml); skips discovery.",
)
@click.option(
    "--select", multiple=True, help="Rule codes or prefixes to enable (replaces the default set)."
)
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to add.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option(
    "--probe",
    type=click.Path(),
    help="Target evaluation set (JSONL): contamination and similarity.",
)
@click.option(
    "--rollouts",
    "rollouts_file",
    type=click.Path(),
    help="Precomputed rollouts from `datalint rollout`.",
)
@click.option(
    "--backend",
    type=click.Choice(["transformers", "vllm"]),
    default=None,
    help="Policy backend that samples rollouts.  [default: transformers]",
)
@click.option(
    "--model",
    envvar="DATALINT_MODEL",
    help="Local HF model directory.  [default: the shipped tiny policy]",
)
@click.option(
    "--rollouts-per-item",
    type=click.IntRange(1),
    default=None,
    help="Samples per problem.  [default: 8]",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0.0),
    default=None,
    help="Sampling temperature.  [default: 1.0]",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1),
    default=None,
    help="Completion length cap.  [default: 256]",
)
@click.option("--seed", type=int, default=None, help="Sampling seed.  [default: 0]")
@click.option(
    "--cohort-size",
    type=click.IntRange(1),
    default=None,
    help="Items per cohort when the data has no `cohort` field.  [default: 4]",
)
@click.option(
    "--default-verifier", default=None, help="Verifier for items without one.  [default: exact]"
)
@click.option(
    "--predictor",
    type=click.Path(),
    envvar="DATALINT_PREDICTOR",
    help="Lift predictor (.onnx).  [default: the shipped one]",
)
@click.option(
    "--fail-under", type=float, default=None, help="Fail when the dataset lift score is below this."
)
@click.option("--static-only", is_flag=True, help="Run only the checks that need no model.")
@click.option(
    "--require-model", is_flag=True, help="Fail (exit 2) instead of skipping the model stages."
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    envvar="DATALINT_CACHE_DIR",
    help="Rollout cache folder.  [default: the user cache dir]",
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
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the check fails.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def check_command(
    paths: tuple[str, ...],
    config_path: str | None,
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    fmt: str,
    output: str | None,
    statistics: bool,
    exit_zero: bool,
    quiet: bool,
    **flags: Any,
) -> None:
    """Lint RLVR data files (.jsonl, .jsonl.gz, or folders of them).

    Runs the static checks, samples rollouts with the policy (or replays existing ones), computes
    the GRPO features per cohort, predicts the lift and reports every finding at file:line.
    """
    with friendly_errors(on_interrupt=lambda: "every finished rollout is kept in the cache"):
        exit_code = _run(
            paths, config_path, select, extend_select, ignore, fmt, output, statistics, quiet, flags
        )
    sys.exit(EXIT_PASS if exit_zero else exit_code)


def _run(
    paths: tuple[str, ...],
    config_path: str | None,
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    fmt: str,
    output: str | None,
    statistics: bool,
    quiet: bool,
    flags: dict[str, Any],
) -> int:
    from datalint.config import check_selector, load_config, select_rules
    from datalint.io import is_interactive_stream
    from datalint.pipeline import CheckOptions, run_check
    from datalint.report import get_renderer
    from datalint.rulebook import load_rules

    all_rules = load_rules()
    config = load_config(config_path, all_rules)
    codes = {r.code for r in all_rules}
    cli_select, cli_extend, cli_ignore = _split(select), _split(extend_select), _split(ignore)
    for selector in (cli_select or []) + (cli_extend or []) + (cli_ignore or []):
        check_selector(selector, codes, where="--select/--ignore: ")
    rules = select_rules(
        all_rules,
        select=cli_select if cli_select is not None else config.get("select"),
        extend_select=(config.get("extend-select") or []) + (cli_extend or []),
        ignore=cli_ignore if cli_ignore is not None else config.get("ignore"),
        overrides=config.get("rules"),
    )

    def pick(flag: str, key: str, default: Any) -> Any:
        value = flags.get(flag)
        if value is not None:
            return value
        return config.get(key, default)

    opts = CheckOptions(
        paths=list(paths),
        probe=pick("probe", "probe", None),
        rollouts_file=flags.get("rollouts_file"),
        backend=pick("backend", "backend", "transformers"),
        model=pick("model", "model", None),
        rollouts_per_item=pick("rollouts_per_item", "rollouts-per-item", 8),
        temperature=float(pick("temperature", "temperature", 1.0)),
        max_new_tokens=pick("max_new_tokens", "max-new-tokens", 256),
        seed=pick("seed", "seed", 0),
        cohort_size=pick("cohort_size", "cohort-size", 4),
        default_verifier=pick("default_verifier", "default-verifier", "exact"),
        static_only=bool(flags.get("static_only")),
        require_model=bool(flags.get("require_model")),
        use_cache=not flags.get("no_cache"),
        cache_dir=flags.get("cache_dir"),
        predictor=pick("predictor", "predictor", None),
        fail_under=pick("fail_under", "fail-under", None),
        progress=is_interactive_stream(sys.stderr),
    )

    def note(message: str) -> None:
        if not quiet:
            click.echo(f"datalint: {message}", err=True)

    report = run_check(opts, rules, notify=note)
    for stage in report.summary.skipped_stages:
        note(f"skipped {stage}")

    render = get_renderer(fmt)
    rules_by_code = {r.code: r for r in rules}
    if output:
        try:
            with open(output, "w", encoding="utf-8") as out:
                render(report, rules_by_code, out, statistics=statistics)
        except OSError as exc:
            fail(f"{output}: cannot write report: {exc.strerror or exc}")
    else:
        render(report, rules_by_code, sys.stdout, statistics=statistics)
    return EXIT_PASS if report.summary.passed else EXIT_FAIL
