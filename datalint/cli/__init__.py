"""The ``datalint`` command: a click root group whose subcommands are imported on first use.

Listing commands must not import torch, onnxruntime or even rich, so ``datalint --help`` stays
fast: the short help of each command lives in the table below.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from datalint import __version__

# name -> (module, attribute, short help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("datalint.cli.check", "check_command", "Lint data files; exit 0 pass, 1 fail."),
    "rules": ("datalint.cli.rules", "rules_command", "List the rules."),
    "rule": ("datalint.cli.rules", "rule_command", "Show the documentation of one rule."),
    "rollout": ("datalint.cli.rollout", "rollout_command", "Precompute rollouts to a JSONL file."),
    "model": ("datalint.cli.model", "model_group", "Prepare policy models (import-gguf)."),
    "calibrate": (
        "datalint.cli.calibrate",
        "calibrate_command",
        "Measure real GRPO lift per cohort into a store.",
    ),
    "fit": ("datalint.cli.calibrate", "fit_command", "Fit the lift predictor and export ONNX."),
    "evaluate": (
        "datalint.cli.calibrate",
        "evaluate_command",
        "Evaluate the predictor against the free baselines.",
    ),
    "loop": (
        "datalint.cli.loop",
        "loop_command",
        "Online loop: score fresh cohorts, train the pick, learn.",
    ),
    "cache": ("datalint.cli.cache", "cache_group", "Show or prune the rollout cache."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="datalint")
def cli() -> None:
    """datalint: will this RL post-training data improve your model? Find out before training.

    \b
    Exit codes: 0 pass, 1 findings at error level (or lift score under --fail-under),
    2 usage, configuration or input error.
    """
    from datalint.cli.guard import install

    install()  # before anything can print data: no line datalint writes is a workflow command


def main(argv: list[str] | None = None) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Spawned workers start as `python -c`, which would put the working directory (perhaps the
    # data folder) first on their import path before multiprocessing restores ours.
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        return cli.main(args=argv, prog_name="datalint", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click converts most of these
        click.echo("datalint: interrupted", err=True)
        sys.exit(130)
