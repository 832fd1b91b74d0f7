"""``datalint rules`` and ``datalint rule CODE``."""

from __future__ import annotations

import json

import click

from datalint.cli.errors import fail, friendly_errors


@click.command("rules")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def rules_command(fmt: str) -> None:
    """List every rule: code, name, level, scope and the condition it checks."""
    with friendly_errors():
        from datalint.rulebook import load_rules

        rules = load_rules()
        if fmt == "json":
            click.echo(json.dumps([r.as_dict() for r in rules], indent=2))
            return
        width = max(len(r.name) for r in rules)
        for r in rules:
            flag = "" if r.default else "  (opt-in)"
            click.echo(f"{r.code:<6} {r.name:<{width}}  {r.level:<7}  {r.summary}{flag}")


@click.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Print the documentation of the rule CODE (what, why, how to fix, examples)."""
    with friendly_errors():
        from datalint.rulebook import rules_by_code

        rules = rules_by_code()
        rule = rules.get(code.upper())
        if rule is None:
            fail(f"{code}: unknown rule code (see `datalint rules`)")
        click.echo(rule.docs_markdown(), nl=False)
