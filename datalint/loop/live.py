"""The live table on a TTY: each seed's probe NLL per arm, and the round each chain has reached."""

from __future__ import annotations

from typing import Any


class LiveTable:
    def __init__(self, opts: Any, chains: dict, base_nll: float, *, enabled: bool) -> None:
        self.opts = opts
        self.enabled = enabled
        self.state: dict[tuple[int, str], tuple[int, float, str]] = {
            key: (c.done, c.nll, "") for key, c in chains.items()
        }
        self._live: Any = None

    def __enter__(self) -> LiveTable:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, entry: dict[str, Any]) -> None:
        self.state[(entry["seed"], entry["arm"])] = (
            entry["round"] + 1,
            entry["nll_after"],
            entry["predictor_version"],
        )
        if self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(
            title=f"datalint loop: probe NLL after the rounds done (of {self.opts.rounds})"
        )
        table.add_column("seed", justify="right")
        for arm in self.opts.arms:
            table.add_column(arm, justify="right")
        for seed in range(self.opts.seeds):
            cells = []
            for arm in self.opts.arms:
                done, nll, version = self.state[(seed, arm)]
                tag = f" [dim]{version}[/]" if arm == "learned" and version else ""
                cells.append(f"r{done} {nll:.4f}{tag}")
            table.add_row(str(seed), *cells)
        return table
