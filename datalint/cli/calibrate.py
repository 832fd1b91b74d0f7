"""``datalint calibrate``, ``datalint fit`` and ``datalint evaluate``: the self-improving half."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from datalint.cli.errors import echo_note, fail, friendly_errors
from datalint.cli.options import (
    FiniteFloat,
    cluster_option_flags,
    field_mapping,
    field_options,
    model_option_flags,
)


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
@cluster_option_flags
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
@field_options
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
    **field_flags: Any,
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

        config = load_config(config_path, load_rules())
        grading = grading_setup({}, config)

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
            fields=field_mapping(field_flags, config),
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


def _world_options(f: Any) -> Any:
    f = click.option(
        "--world-name",
        "world_names",
        multiple=True,
        metavar="STORE=NAME",
        help="Name a store's world (default: its worlds/NAME/ folder, else its model "
        "fingerprint); repeatable.",
    )(f)
    f = click.option("--settings", "settings_hash", help="Runs with this settings-hash prefix.")(f)
    return click.option(
        "--folds", type=int, default=10, show_default=True, help="CV folds; 0 = LOO."
    )(f)


@click.command("fit")
@click.argument(
    "store_paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="ONNX path.")
@click.option("--label", type=click.Choice(["nll", "reward"]), default="nll", show_default=True)
@_world_options
@click.option(
    "--variant",
    default="auto",
    show_default=True,
    help="raw | world_z | rank, optionally +ranks, optionally +align (gradient signals); or "
    "first_order+align [+ranks before +align]; auto = chosen by nested leave-one-world-out "
    "(raw with one world).",
)
@click.option(
    "--prior",
    "prior_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Local calibration: fit on these stores' worlds plus STORE's cohorts, up-weighted.",
)
@click.option("--local-weight", type=FiniteFloat(0, min_open=True), help="Weight of a local row.")
@click.option(
    "--include-online",
    is_flag=True,
    help="Add the online runs of `datalint loop` (measured from moving weights) to the base runs.",
)
@click.option("--build-command", help="How to rebuild this predictor, for the card.")
@click.option(
    "--sweep",
    "sweep_path",
    type=click.Path(exists=True, dir_okay=False),
    help="sweep.json of scripts/sweep_grpo.py: how the GRPO lr and steps were chosen (card).",
)
def fit_command(
    store_paths: tuple[str, ...],
    output: str,
    label: str,
    folds: int,
    settings_hash: str | None,
    world_names: tuple[str, ...],
    variant: str,
    prior_paths: tuple[str, ...],
    local_weight: float | None,
    include_online: bool,
    build_command: str | None,
    sweep_path: str | None,
) -> None:
    """Fit the lift predictor (monotone xgboost) on one or more STOREs (one world each) and
    export it to ONNX with its card."""
    with friendly_errors():
        try:
            from datalint.calibrate.dataset import CalibrationDataError, Label
            from datalint.calibrate.fit import card_path, fit_predictor
            from datalint.calibrate.lowo import (
                leave_one_world_out,
                select_variant,
                usable_variants,
            )
            from datalint.calibrate.report import print_validation
            from datalint.calibrate.variants import Variant

            chosen: Label = "reward" if label == "reward" else "nll"
            paths = list(prior_paths) + list(store_paths)
            sets, method, evaluation = _load_worlds_and_evaluate(
                paths, world_names, settings_hash, folds, include_online
            )
            for world_eval in evaluation["worlds"].values():
                print_validation(world_eval)
            prior = sets[: len(prior_paths)]
            local = sets[len(prior_paths) :] if prior_paths else []
            fit_sets = prior if prior_paths else sets
            lowo = leave_one_world_out(fit_sets, chosen) if len(fit_sets) >= 2 else None
            if variant == "auto":
                picked = select_variant(fit_sets, chosen)[0] if len(fit_sets) >= 2 else Variant()
            else:
                picked = Variant.parse(variant)
                if not usable_variants(fit_sets, (picked,)):
                    raise CalibrationDataError(
                        f"--variant {variant}: takes the gradient signals, and not every store "
                        "holds them (scripts/grad_align_signal.py adds them to older stores)"
                    )
            command = build_command or "datalint " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            sweep = json.loads(Path(sweep_path).read_text("utf-8")) if sweep_path else None
            single = evaluation["worlds"][sets[0].world] if len(sets) == 1 else evaluation
            card = fit_predictor(
                fit_sets,
                single,
                output,
                chosen,
                build_command=command,
                sweep=sweep,
                variant=picked,
                lowo=lowo,
                similarity_method=method,
                local=local,
                local_weight=local_weight,
            )
        except _store_errors() as exc:
            fail(str(exc))
    click.echo(
        f"wrote {output} and {card_path(output)} ({card['n_cohorts']} cohorts, "
        f"{len(card['worlds'])} world(s), variant {card['variant']})"
    )
    if card.get("verdict"):
        click.echo(card["verdict"])
    click.echo(f"out of domain, the dataset score is: {card['out_of_domain_score']['score']}")


def _load_worlds_and_evaluate(
    paths: list[str],
    world_names: tuple[str, ...],
    settings_hash: str | None,
    folds: int,
    include_online: bool = False,
) -> tuple[list[Any], str, dict[str, Any]]:
    """The stores as worlds (checked comparable), and each one's in-world evaluation. Online runs
    of ``datalint loop`` (their own table) count only with ``include_online``."""
    from datalint.calibrate.evaluate import evaluate
    from datalint.calibrate.worlds import load_worlds, parse_world_names

    sets, method = load_worlds(
        paths,
        names=parse_world_names(world_names),
        settings_hash=settings_hash,
        notify=_note,
        include_online=include_online,
    )
    return sets, method, {"worlds": {c.world: evaluate(c, folds=folds) for c in sets}}


@click.command("evaluate")
@click.argument(
    "store_paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="JSON + PNG plots here.")
@_world_options
@click.option(
    "--include-online",
    is_flag=True,
    help="Add the online runs of `datalint loop` (measured from moving weights) to the base runs.",
)
def evaluate_command(
    store_paths: tuple[str, ...],
    output_dir: str | None,
    folds: int,
    settings_hash: str | None,
    world_names: tuple[str, ...],
    include_online: bool,
) -> None:
    """Cross-validated evaluation of the predictor beside the free baselines, both labels; with
    several STOREs (one world each), also nested leave-one-world-out."""
    with friendly_errors():
        try:
            from datalint.calibrate.lowo import leave_one_world_out
            from datalint.calibrate.report import print_evaluation, print_lowo, write_outputs

            sets, method, evaluation = _load_worlds_and_evaluate(
                list(store_paths), world_names, settings_hash, folds, include_online
            )
            lowo = leave_one_world_out(sets) if len(sets) >= 2 else None
        except _store_errors() as exc:
            fail(str(exc))
        for name, world_eval in evaluation["worlds"].items():
            if len(sets) > 1:
                click.echo(f"== world {name}")
            print_evaluation(world_eval)
        if lowo is not None:
            print_lowo(lowo)
        if output_dir:
            out = Path(output_dir)
            written = (
                write_outputs(evaluation["worlds"][sets[0].world], out) if len(sets) == 1 else []
            )
            if len(sets) > 1:
                from datalint.calibrate.report import write_json

                for name, world_eval in evaluation["worlds"].items():
                    written += write_outputs(world_eval, out / name)
                written.append(
                    write_json(
                        {"similarity_method": method, "leave_one_world_out": lowo},
                        out / "leave-one-world-out.json",
                    )
                )
                if lowo is not None:
                    from datalint.calibrate.report import write_lowo_plot

                    written.append(write_lowo_plot(lowo, out / "leave-one-world-out.png"))
            _note("wrote " + ", ".join(str(p) for p in written))
