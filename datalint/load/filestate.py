"""What reading one file found: its record count, why it was skipped, notes for stderr."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FileStats:
    path: str
    n_records: int
    skipped: str | None = None  # why the file was not read as data
    layout: str | None = None  # the layout its records were read in
    notes: tuple[str, ...] = ()  # one line each for stderr (the layout used, an array file, ...)
    failed: bool = False  # reading stopped before the end (a read error, a decompression bound)


@dataclass(slots=True)
class FileRead:
    """The mutable tally a reader keeps while it streams one file."""

    path: str
    n_records: int = 0
    failed: bool = False  # reading stopped early (a read error, the decompression bound)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def stats(self, layout: str | None) -> FileStats:
        return FileStats(
            self.path, self.n_records, self.skipped, layout, tuple(self.notes), self.failed
        )
