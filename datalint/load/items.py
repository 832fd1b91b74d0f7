"""Decoded records of one file -> Items, in the layout detected at the file's first record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from datalint.load.layouts import (
    NATIVE,
    Layout,
    detect,
    nearest,
    origin_of,
    to_native,
    with_fields,
)
from datalint.load.parse import native_builder, native_item
from datalint.load.records import Item, Source

if TYPE_CHECKING:
    from datalint.engine import Gate

_SHOWN_FIELDS = 12


class FileItems:
    """Locks a file's layout at its first record that fits one; an explicit mapping wins.

    Readers call :attr:`build` once per decoded record; it is rebound when the layout locks, so
    a native file pays one call per record (the fast path) and no layout test.
    """

    def __init__(self, gate: Gate, fields: Mapping[str, str] | None = None) -> None:
        self.gate = gate
        self.fields = dict(fields or {})
        self.layout: Layout | None = None
        self._origin: dict[str, str] = {}
        self.build: Callable[[Any, Source], Item | None] = self._first
        if "prompt" in self.fields and ("answer" in self.fields or "solution" in self.fields):
            self._lock_to(with_fields(None, self.fields))

    def _first(self, obj: Any, src: Source) -> Item | None:
        if type(obj) is not dict:
            return native_item(obj, src, self.gate)
        layout = self._detect(obj, src)
        if layout is None:
            return None
        return self.build(obj, src)

    def _mapped(self, obj: Any, src: Source) -> Item | None:
        layout = self.layout
        assert layout is not None
        if type(obj) is not dict:
            return native_item(obj, src, self.gate)
        native, problem = to_native(obj, layout)
        if native is None:
            detail = f"{problem} (read as layout {layout.name})"
            self.gate.observe("schema_errors", 1, src, detail=detail)
            return None
        return native_item(native, src, self.gate, layout=layout.name, origin=self._origin)

    def _lock_to(self, layout: Layout) -> None:
        self.layout = layout
        self._origin = origin_of(layout)
        self.build = native_builder(self.gate) if layout is NATIVE else self._mapped

    def _detect(self, obj: dict[str, Any], src: Source) -> Layout | None:
        found = detect(obj)
        if found is None and not self.fields:
            keys = [str(k)[:40] for k in obj]
            shown = ", ".join(keys[:_SHOWN_FIELDS]) + (", ..." if len(keys) > _SHOWN_FIELDS else "")
            near = nearest(keys)
            self.gate.observe(
                "unknown_layout",
                1,
                src,
                fields=shown or "none",
                nearest=near.name,
                columns=near.columns(),
                detail=f"no known layout fits (fields: {shown or 'none'}; nearest: {near.name})",
            )
            return None
        layout = with_fields(found, self.fields) if self.fields else found
        assert layout is not None
        self._lock_to(layout)
        return layout

    @property
    def layout_name(self) -> str | None:
        return None if self.layout is None else self.layout.name
