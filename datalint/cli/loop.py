"""``datalint loop``: the online loop, its arms side by side, resumable from the store."""

from __future__ import annotations

import sys

import click

from datalint.cli.errors import fail, friendly_errors
from datalint.cli.options import cluster_option_flags
from datalint.loop.options import ARMS


def _note(message: str) -> None:
    click.echo(f"datalint: {message}", err=True)


@click.command("loop")
@click.argument("pool", nargs=-1, required=True, type=click.Path())
@click.option("--probe", required=True, type=click.Path(), help="Probe (target eval) JSONL.")
@click.option("--store", "store_path", required=True, type=click.Path(), help="SQLite store.")
@click.option("--model", help="Base policy (local HF dir).  [default: the shipped tiny policy]")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Log, plots and checkpoints.  [default: STORE's name + '-loop' beside it]",
)
@click.option("--rounds", type=click.IntRange(1, 999), default=8, show_default=True)
@click.option(
    "--candidates", type=click.IntRange(1), default=4, show_default=True, help="Cohorts per round."
)
@click.option("--seeds", type=click.IntRange(1), default=5, show_default=True, help="Loop seeds.")
@click.option(
    "--arms",
    default=",".join(ARMS),
    show_default=True,
    help="Comma-separated subset of: " + ", ".join(ARMS) + ".",
)
@click.option(
    "--prior",
    help="Cold-start predictor: an ONNX file, or 'adv_std'.  [default: the shipped predictor]",
)
@click.option(
    "--min-labels",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Online labels an arm needs before a refit is tried.",
)
@click.option(
    "--refit-alpha",
    type=click.FloatRange(0, min_open=True),
    default=400.0,
    show_default=True,
    help="Ridge penalty of the refit (a correction to the prior), in labels: it reaches half "
    "strength at about this many online labels.",
)
@click.option("--steps", type=click.IntRange(1), default=8, show_default=True, help="GRPO steps.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-5, show_default=True)
@click.option("--num-generations", type=click.IntRange(2), default=8, show_default=True)
@click.option("--max-completion-length", type=click.IntRange(1), default=8, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, min_open=True), default=1.0)
@click.option("--cohort-size", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Completion cap of the scoring rollouts (as check's --max-new-tokens).",
)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
@cluster_option_flags
@click.option(
    "--keep-checkpoints",
    type=click.Choice(["all", "last"]),
    default="all",
    show_default=True,
    help="Keep every round's checkpoint, or only each chain's latest (enough to resume).",
)
@click.option("--cache-dir", type=click.Path(), help="Rollout cache folder.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache.")
def loop_command(
    pool: tuple[str, ...],
    probe: str,
    store_path: str,
    model: str | None,
    out_dir: str | None,
    rounds: int,
    candidates: int,
    seeds: int,
    arms: str,
    prior: str | None,
    min_labels: int,
    refit_alpha: float,
    steps: int,
    lr: float,
    num_generations: int,
    max_completion_length: int,
    temperature: float,
    cohort_size: int,
    max_new_tokens: int,
    workers: int,
    executor: str,
    ray_address: str | None,
    threads_per_run: int,
    gpus_per_run: float | None,
    keep_checkpoints: str,
    cache_dir: str | None,
    no_cache: bool,
) -> None:
    """Run the online loop on cohorts of POOL: each round, each arm scores --candidates fresh
    cohorts against its current weights, trains its pick with GRPO and measures the probe NLL.

    \b
    Arms (same starting weights and candidate draws within a seed):
      learned  the arm's online predictor: the prior, corrected by ridge on the arm's own
               labels only while that wins on held-out rounds
      random   a uniform pick
      p1p      the highest mean p(1-p) of the cohort's items (the free signal)
      oracle   trains every candidate and keeps the best (an upper bound; costs K runs)

    Resumable: rounds already in STORE are skipped, so a killed loop restarts where it stopped.
    """
    from datalint.cli.terminal import is_interactive_stream

    chosen = tuple(a.strip() for a in arms.split(",") if a.strip())
    with friendly_errors(lambda: f"finished rounds are kept in {store_path}; rerun to resume"):
        from datalint.calibrate.store import StoreError
        from datalint.loop.options import LoopOptions
        from datalint.loop.run import LoopError, run_loop
        from datalint.predict import PredictorError

        opts = LoopOptions(
            pool=list(pool),
            probe=probe,
            store=store_path,
            out=out_dir,
            model=model,
            rounds=rounds,
            candidates=candidates,
            seeds=seeds,
            arms=chosen,
            prior=prior,
            min_labels=min_labels,
            ridge_alpha=refit_alpha,
            steps=steps,
            lr=lr,
            num_generations=num_generations,
            temperature=temperature,
            max_completion_length=max_completion_length,
            cohort_size=cohort_size,
            executor=executor,
            ray_address=ray_address,
            threads_per_run=threads_per_run,
            gpus_per_run=gpus_per_run,
            feature_max_new_tokens=max_new_tokens,
            workers=workers,
            keep_checkpoints=keep_checkpoints,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            live=is_interactive_stream(sys.stderr),
        )
        try:
            result = run_loop(opts, _note)
        except (LoopError, StoreError, PredictorError, ValueError) as exc:
            fail(str(exc))
    _print_summary(result)


def _print_summary(result) -> None:  # type: ignore[no-untyped-def]
    from datalint.loop.report import MIN_SEEDS_FOR_INTERVAL

    s = result.summary
    click.echo(
        f"loop {result.loop_hash}: {result.rounds_new} new rounds, {result.rounds_before} "
        f"already stored, {result.rounds_total} in all -> {result.out_dir}"
    )
    click.echo(f"base probe NLL {s['base_nll']:.4f}; seeds complete: {s['n_seeds_complete']}")
    for arm, data in s["arms"].items():
        if data["final_nll_mean"] is None:
            continue
        lo, hi = data["final_nll_ci95"]
        click.echo(
            f"  {arm:<8} probe NLL after {s['rounds']} rounds {data['final_nll_mean']:.4f} "
            f"[{lo:.4f}, {hi:.4f}]"
        )
    for c in s["comparisons"]:
        lo, hi = c["ci95"]
        if c["excludes_zero"] is None:
            verdict = f"too few seeds for an interval: {c['n_seeds']} < {MIN_SEEDS_FOR_INTERVAL}"
        else:
            verdict = "excludes 0" if c["excludes_zero"] else "does NOT exclude 0"
        click.echo(
            f"  {c['arm']} vs {c['versus']}: advantage {c['advantage_mean']:+.4f} nats "
            f"[{lo:+.4f}, {hi:+.4f}] over {c['n_seeds']} seeds ({verdict}; "
            f"{c['wins']}/{c['n_seeds']} seeds better)"
        )
