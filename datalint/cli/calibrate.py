"""``datalint calibrate``, ``datalint fit`` and ``datalint evaluate``: the self-improving half."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from datalint.cli.errors import echo_note, fail, friendly_errors
from datalint.cli.options import FiniteFloat, model_option_flags


def _note(message: str) -> None:
    echo_note(message)


def _parse_trl_options(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            fail(f"--trl-option {value!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _store_errors() -> tuple[type[Exception], ...]:
    from datalint.calibrate.dataset import CalibrationDataError
    from datalint.calibrate.store import StoreError
    from datalint.predict import PredictorError

    return (StoreError, CalibrationDataError, PredictorError, ValueError)


@click.command("calibrate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--probe", required=True, type=click.Path(), help="Probe (target eval) JSONL.")
@click.option("--store", "store_path", required=True, type=click.Path(), help="SQLite store.")
@click.option("--model", help="Base policy (local HF dir).  [default: the shipped tiny policy]")
@click.option("--steps", type=click.IntRange(1), default=8, show_default=True, help="GRPO steps.")
@click.option("--lr", type=FiniteFloat(0, min_open=True), default=2e-5, show_default=True)
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True, help="Runs/cohort.")
@click.option("--cohort-size", type=click.IntRange(1), default=4, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
@click.option(
    "--executor",
    type=click.Choice(["process", "ray"]),
    default="process",
    show_default=True,
    help="Where GRPO runs go: local worker processes, or Ray tasks (the 'ray' extra).",
)
@click.option(
    "--address",
    "ray_address",
    help="Join this Ray cluster (ray start --head prints it; 'auto' finds a local one). "
    "Without it, --executor ray starts a private local cluster of --workers runs.",
)
@click.option(
    "--threads-per-run",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="CPU threads each GRPO run uses (and declares to Ray).",
)
@click.option(
    "--gpus-per-run",
    type=FiniteFloat(0),
    help="GPUs each Ray task declares (fractions share one).  [default: 1 on a cluster with "
    "GPUs, else 0]",
)
@click.option(
    "--backend",
    type=click.Choice(["transformers", "vllm"]),
    default="transformers",
    show_default=True,
    help="Backend of the feature rollouts; vllm also turns on trl's use_vllm for GRPO.",
)
@click.option("--num-generations", type=click.IntRange(2), default=8, show_default=True)
@click.option("--max-completion-length", type=click.IntRange(1), default=8, show_default=True)
@click.option("--temperature", type=FiniteFloat(0, min_open=True), default=1.0)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Completion cap of the feature rollouts (as check's --max-new-tokens).",
)
@click.option(
    "--trl-option",
    "trl_options",
    multiple=True,
    help="KEY=VALUE passed to trl's GRPOConfig (e.g. vllm_mode=colocate); repeatable.",
)
@click.option("--cache-dir", type=click.Path(), help="Rollout cache folder.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache.")
@click.option(
    "--trust-rollouts",
    is_flag=True,
    help="Compute features from rollouts inline in the data (regraded) instead of sampling.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DATALINT_CONFIG",
    help="Config file for [verifiers], default-verifier and answer-extraction; skips discovery.",
)
@model_option_flags
def calibrate_command(
    paths: tuple[str, ...],
    probe: str,
    store_path: str,
    model: str | None,
    steps: int,
    lr: float,
    seeds: int,
    cohort_size: int,
    workers: int,
    executor: str,
    ray_address: str | None,
    threads_per_run: int,
    gpus_per_run: float | None,
    backend: str,
    num_generations: int,
    max_completion_length: int,
    temperature: float,
    max_new_tokens: int,
    trl_options: tuple[str, ...],
    cache_dir: str | None,
    no_cache: bool,
    trust_rollouts: bool,
    config_path: str | None,
    dtype: str | None,
    device: str | None,
    system_prompt: str | None,
) -> None:
    """Measure real GRPO lift (probe NLL before - after) per cohort and seed into STORE.

    Resumable: runs already in the store are skipped, so a killed calibration restarts where it
    stopped.
    """
    from datalint.cli.terminal import is_interactive_stream

    options = _parse_trl_options(trl_options)
    if backend == "vllm":
        options.setdefault("use_vllm", True)
    with friendly_errors(lambda: f"finished runs are kept in {store_path}; rerun to resume"):
        from datalint.calibrate.run import CalibrateOptions, calibrate
        from datalint.cli.options import grading_setup
        from datalint.config import load_config
        from datalint.rulebook import load_rules

        grading = grading_setup({}, load_config(config_path, load_rules()))

        opts = CalibrateOptions(
            paths=list(paths),
            probe=probe,
            store=store_path,
            model=model,
            steps=steps,
            lr=lr,
            seeds=seeds,
            cohort_size=cohort_size,
            workers=workers,
            executor=executor,
            ray_address=ray_address,
            threads_per_run=threads_per_run,
            gpus_per_run=gpus_per_run,
            backend=backend,
            num_generations=num_generations,
            temperature=temperature,
            max_completion_length=max_completion_length,
            feature_max_new_tokens=max_new_tokens,
            trl_options=options,
            default_verifier=grading.default_verifier,
            grading=grading,
            use_cache=not no_cache,
            cache_dir=cache_dir,
            progress=is_interactive_stream(sys.stderr),
            trust_rollouts=trust_rollouts,
            dtype=dtype or "float32",
            device=device or "auto",
            system_prompt=system_prompt or None,
        )
        try:
            summary = calibrate(opts, _note)
        except _store_errors() as exc:
            fail(str(exc))
    click.echo(
        f"calibrated {summary.n_cohorts} cohorts: {summary.n_runs_new} new runs, "
        f"{summary.n_runs_done_before} already stored, {summary.n_runs_total} in all "
        f"-> {store_path}"
    )


@click.command("fit")
@click.argument("store_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="ONNX path.")
@click.option("--label", type=click.Choice(["nll", "reward"]), default="nll", show_default=True)
@click.option("--folds", type=int, default=10, show_default=True, help="CV folds; 0 = LOO.")
@click.option("--settings", "settings_hash", help="Fit on runs with this settings-hash prefix.")
@click.option("--build-command", help="How to rebuild this predictor, for the card.")
@click.option(
    "--sweep",
    "sweep_path",
    type=click.Path(exists=True, dir_okay=False),
    help="sweep.json of scripts/sweep_grpo.py: how the GRPO lr and steps were chosen (card).",
)
def fit_command(
    store_path: str,
    output: str,
    label: str,
    folds: int,
    settings_hash: str | None,
    build_command: str | None,
    sweep_path: str | None,
) -> None:
    """Fit the lift predictor (monotone xgboost) on STORE and export it to ONNX with its card."""
    with friendly_errors():
        try:
            from datalint.calibrate.dataset import Label
            from datalint.calibrate.fit import card_path, fit_predictor
            from datalint.calibrate.report import print_validation

            cset, evaluation = _load_and_evaluate(store_path, settings_hash, folds)
            print_validation(evaluation)
            command = build_command or "datalint " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            sweep = json.loads(Path(sweep_path).read_text("utf-8")) if sweep_path else None
            chosen: Label = "reward" if label == "reward" else "nll"
            card = fit_predictor(
                cset, evaluation, output, chosen, build_command=command, sweep=sweep
            )
        except _store_errors() as exc:
            fail(str(exc))
    click.echo(f"wrote {output} and {card_path(output)} ({card['n_cohorts']} cohorts)")
    click.echo(card["verdict"])


def _load_and_evaluate(store_path: str, settings_hash: str | None, folds: int) -> tuple[Any, Any]:
    """The store's runs as a calibration set, and its cross-validated evaluation."""
    from datalint.calibrate.dataset import load_calibration_set
    from datalint.calibrate.evaluate import evaluate
    from datalint.calibrate.store import CalibrationStore

    with CalibrationStore(store_path) as store:
        cset = load_calibration_set(store, settings_hash)
    return cset, evaluate(cset, folds=folds)


@click.command("evaluate")
@click.argument("store_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="JSON + PNG plots here.")
@click.option("--folds", type=int, default=10, show_default=True, help="CV folds; 0 = LOO.")
@click.option("--settings", "settings_hash", help="Evaluate runs with this settings-hash prefix.")
def evaluate_command(
    store_path: str, output_dir: str | None, folds: int, settings_hash: str | None
) -> None:
    """Cross-validated evaluation of the predictor beside the free baselines, both labels."""
    with friendly_errors():
        try:
            from datalint.calibrate.report import print_evaluation, write_outputs

            _, evaluation = _load_and_evaluate(store_path, settings_hash, folds)
        except _store_errors() as exc:
            fail(str(exc))
        print_evaluation(evaluation)
        if output_dir:
            written = write_outputs(evaluation, Path(output_dir))
            _note("wrote " + ", ".join(str(p) for p in written))
