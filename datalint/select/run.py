"""``datalint select``: run the check, judge every row, write the kept rows and the rejects."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalint.findings import Report
from datalint.load import InputError
from datalint.load.discover import SAVE_TO_DISK_METADATA
from datalint.load.records import Item, Source
from datalint.pipeline import CheckOptions, CheckTrace, Notify, max_line_bytes, run_check
from datalint.rulebook import Rule
from datalint.select.criteria import Criteria
from datalint.select.decide import ItemVerdict, decide
from datalint.select.write import REASONS_FIELD, WriteCounts, kind_of

NOT_A_RECORD = "not-a-record"


@dataclass(slots=True)
class FileResult:
    path: str
    kept_to: str
    rejects_to: str | None
    counts: WriteCounts


@dataclass(slots=True)
class SelectResult:
    report: Report
    criteria: Criteria
    files: list[FileResult] = field(default_factory=list)
    kept_lift: float | None = None
    n_kept_cohorts: int = 0
    n_cohorts: int = 0

    def as_dict(self) -> dict[str, Any]:
        kept = sum(f.counts.kept for f in self.files)
        rejected = sum(f.counts.rejected for f in self.files)
        invalid = [
            {"path": f.path, "line": line, "reasons": reasons}
            for f in self.files
            for line, reasons in f.counts.invalid
        ]
        return {
            "version": 1,
            "criteria": self.criteria.describe(),
            "kept": kept,
            "rejected": rejected,
            "invalid": invalid,
            "kept_cohorts": self.n_kept_cohorts,
            "cohorts": self.n_cohorts,
            "lift": {"kept": self.kept_lift, "whole": self.report.summary.lift_score},
            "files": [
                {
                    "path": f.path,
                    "kept_to": f.kept_to,
                    "rejects_to": f.rejects_to,
                    "kept": f.counts.kept,
                    "rejected": f.counts.rejected,
                    "invalid": len(f.counts.invalid),
                }
                for f in self.files
            ],
        }


def run_select(
    opts: CheckOptions,
    rules: tuple[Rule, ...],
    criteria: Criteria,
    output: str,
    rejects: str | None = None,
    *,
    provenance_columns: bool = False,
    provenance: str | None = None,
    notify: Notify,
) -> SelectResult:
    targets = plan_outputs(opts.paths, output, rejects, exclude=opts.rollouts_file)
    trace = CheckTrace()
    report = run_check(opts, rules, notify, trace)
    for stats in trace.files:
        if stats.failed:
            raise InputError(
                f"{stats.path}: could not be read to its end (see the findings of "
                "`datalint check`); select writes every row once, so it writes nothing"
            )
    verdicts = decide(trace, report, rules, criteria)
    default_verifier = opts.grading.default_verifier if opts.grading else opts.default_verifier
    facts: dict[str, Any] | None = None
    if provenance_columns or provenance:
        from datalint.rollout.provenance import run_facts

        facts = run_facts(opts, trace)
    by_file: dict[str, dict[int, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for item in trace.items:
        by_file[item.source.path][item.source.line].append(item)
    codes_at: dict[tuple[str, int], list[str]] = defaultdict(list)
    for finding in report.findings:
        codes_at[(finding.path, finding.line)].append(finding.code)

    result = SelectResult(report, criteria)
    skipped = {s.path for s in trace.files if s.skipped is not None}
    for source_path, (kept_to, rejects_to) in targets.items():
        if source_path in skipped:
            continue
        classify = _classifier(verdicts, trace, facts, default_verifier, provenance_columns)

        def reasons(line: int, path: str = source_path) -> list[str]:
            return sorted(set(codes_at.get((path, line), []))) or [NOT_A_RECORD]

        try:
            counts = _write_one(
                source_path,
                by_file.get(source_path, {}),
                classify,
                reasons,
                kept_to,
                rejects_to,
                opts,
                provenance_columns,
                max_line_bytes(rules),
            )
        except OSError as exc:
            where = exc.filename or kept_to
            raise InputError(f"{where}: cannot write: {exc.strerror or exc}") from None
        result.files.append(
            FileResult(source_path, str(kept_to), str(rejects_to) if rejects_to else None, counts)
        )
    _copy_dataset_metadata(opts.paths, output, rejects)
    kept_lifts = [v.lift for v in verdicts.values() if v.kept and v.lift is not None]
    result.kept_lift = sum(kept_lifts) / len(kept_lifts) if kept_lifts else None
    result.n_cohorts = len(trace.cohorts)
    result.n_kept_cohorts = len(
        {v.cohort for v in verdicts.values() if v.kept and v.cohort is not None}
    )
    if provenance:
        from datalint.rollout.provenance import write_sidecar

        write_sidecar(provenance, opts, trace, default_verifier)
    return result


def _classifier(
    verdicts: dict[int, ItemVerdict],
    trace: CheckTrace,
    facts: dict[str, Any] | None,
    default_verifier: str,
    provenance_columns: bool,
) -> Any:
    from datalint.rollout.provenance import item_facts

    def classify(source: Source, item: Item | None) -> tuple[bool, dict[str, Any]]:
        assert item is not None
        verdict = verdicts[id(item)]
        if not verdict.kept:
            return False, {REASONS_FIELD: list(dict.fromkeys(verdict.reasons))}
        if provenance_columns and facts is not None:
            extra = item_facts(item, trace.rollouts.get(id(item)), facts, default_verifier)
            if extra is None:
                return True, {}
            return True, {
                "pass_rate": extra["pass_rate"],
                "pass_rate_rewards": extra["grades"],
                "pass_rate_generations": [r.completion for r in trace.rollouts[id(item)]],
                "datalint_provenance": {
                    k: v for k, v in extra.items() if k not in ("pass_rate", "grades")
                },
            }
        return True, {}

    return classify


def _write_one(
    path: str,
    items_at: dict[int, list[Item]],
    classify: Any,
    reasons: Any,
    kept_to: Path,
    rejects_to: Path | None,
    opts: CheckOptions,
    added_columns: bool,
    max_line_bytes: int,
) -> WriteCounts:
    from datalint.select import write

    kind = kind_of(path)
    if kind in ("parquet", "arrow"):
        return write.write_columnar(
            path, items_at, classify, reasons, kept_to, rejects_to, added_columns=added_columns
        )
    if kind == "array":
        return write.write_array(
            path, items_at, classify, reasons, kept_to, rejects_to, opts.fields
        )
    return write.write_jsonl(
        path, items_at, classify, reasons, kept_to, rejects_to, max_line_bytes=max_line_bytes
    )


def plan_outputs(
    paths: list[str], output: str, rejects: str | None, *, exclude: str | None = None
) -> dict[str, tuple[Path, Path | None]]:
    """Each data file -> where its kept rows and its rejects go. One file in: ``-o`` names a
    file. Several files, or a folder: ``-o`` names a folder that mirrors them (a folder's files
    by their path inside it, a named file by its name)."""
    from datalint.load import discover_files

    targets: dict[str, tuple[Path, Path | None]] = {}
    single = len(paths) == 1 and os.path.isfile(paths[0])
    for raw in paths:
        files = discover_files([raw], exclude=[exclude] if exclude else [])
        for path in files:
            if single:
                rel = None
            elif os.path.isdir(raw):
                rel = Path(os.path.relpath(path, raw))
            else:
                rel = Path(os.path.basename(path))
            kept = Path(output) if rel is None else Path(output) / rel
            bad = (
                None if rejects is None else (Path(rejects) if rel is None else Path(rejects) / rel)
            )
            for target in (kept, bad):
                if target is None:
                    continue
                if any(target in pair for pair in targets.values()):
                    raise InputError(f"{path}: its output {target} would be written twice")
                if os.path.exists(target) and os.path.samefile(target, path):
                    raise InputError(f"{target}: refusing to overwrite the input")
            targets[path] = (kept, bad)
    if not single and os.path.isfile(output):
        raise InputError(f"{output}: with several inputs or a folder, -o names a folder")
    return targets


def _copy_dataset_metadata(paths: list[str], output: str, rejects: str | None) -> None:
    """A `save_to_disk` folder stays loadable: its state.json and dataset_info.json travel
    (the rejects' dataset_info loses its features: they gained the reasons column)."""
    import json

    for raw in paths:
        if not os.path.isdir(raw):
            continue
        for folder, _, names in os.walk(raw):
            rel = os.path.relpath(folder, raw)
            for name in names:
                if name not in SAVE_TO_DISK_METADATA:
                    continue
                source = os.path.join(folder, name)
                dest = Path(output) / rel / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                if rejects is None:
                    continue
                bad = Path(rejects) / rel / name
                bad.parent.mkdir(parents=True, exist_ok=True)
                if name == "dataset_info.json":
                    try:
                        with open(source, encoding="utf-8") as fh:
                            info = json.load(fh)
                        info.pop("features", None)
                        bad.write_text(json.dumps(info), encoding="utf-8")
                        continue
                    except (OSError, ValueError):
                        pass
                shutil.copyfile(source, bad)
