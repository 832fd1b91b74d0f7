"""Escaping of untrusted text, one function per kind of output, shared by every format.

Cohort ids, file names, messages that quote data, answers and completions come from data files,
which are hostile. What datalint writes must stay inert wherever it is shown:

- :func:`terminal`: control characters (ESC, CR, LF, NUL, C1, bidi overrides, line and paragraph
  separators) shown as ``\\xNN`` / ``\\n`` / ``\\uNNNN``, so a string stays on its line and no
  escape sequence reaches a terminal; the legacy ``##[`` workflow-command prefix is broken.
- :func:`guard_lines` and :class:`InertStream`: no line datalint writes begins with ``::`` (after
  the whitespace that the GitHub runner trims), so no line is a workflow command
  (``::error``, ``::stop-commands::``, ``::add-mask::``, ...) unless datalint wrote it as one.
- :func:`github_data` / :func:`github_property`: a workflow command's message and property values
  (actions/toolkit's ``escapeData`` / ``escapeProperty``: ``%``, CR, LF; and ``:`` ``,``).
- :func:`markdown_text` / :func:`markdown_code`: GitHub-flavoured markdown with no link, image,
  HTML, mention, math or table break coming from the data.
- :func:`html_text` and :func:`script_json`: HTML text and attributes, and JSON inside
  ``<script>``.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from typing import Any, TextIO

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_C0_C1 = (*range(0x20), 0x7F, *range(0x80, 0xA0))
# bidi embeddings/overrides/isolates and marks, line/paragraph separators, BOM: invisible text
# that reorders or breaks what a reader sees (the "trojan source" characters)
_INVISIBLE = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028)
_INVISIBLE += (0x2029, 0xFEFF)

_TERMINAL = {code: _NAMED.get(code, f"\\x{code:02x}") for code in _C0_C1}
_TERMINAL.update({code: f"\\u{code:04x}" for code in _INVISIBLE})
_TERMINAL_KEEP_TAB = {k: v for k, v in _TERMINAL.items() if k != 0x09}
_STREAM_CONTROLS = {k: v for k, v in _TERMINAL_KEEP_TAB.items() if k not in (0x0A, 0x0D)}
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in _TERMINAL) + "]")

# The runner trims leading whitespace (.NET TrimStart) before it looks for "::"; it also reads a
# CR as a line break. "##[" is the runner's legacy command prefix, matched anywhere in a line.
_COMMAND_LINE = re.compile(r"(^|[\r\n])([^\S\r\n]*):(?=:)")
_RISKY_LINE_START = re.compile(r"[\r\n][^\S\r\n]*:")
_LEGACY_COMMAND = "##["
_LEGACY_NEUTRAL = "##\\x5b"
COLON_ESCAPE = "\\x3a"


def terminal(text: str, *, keep_tab: bool = True) -> str:
    """``text`` on one line and free of control sequences, for rich, concise and logs."""
    if text.isprintable() and _LEGACY_COMMAND not in text:
        return text  # the common case, without building a new string
    table = _TERMINAL_KEEP_TAB if keep_tab else _TERMINAL
    out = text.translate(table) if _UNSAFE.search(text) else text
    return out.replace(_LEGACY_COMMAND, _LEGACY_NEUTRAL)


def guard_lines(text: str) -> str:
    """``text`` with every line that would start with ``::`` shown as ``\\x3a:`` instead."""
    if "::" not in text and _LEGACY_COMMAND not in text:
        return text
    out = _COMMAND_LINE.sub(lambda m: m.group(1) + m.group(2) + COLON_ESCAPE, text)
    return out.replace(_LEGACY_COMMAND, _LEGACY_NEUTRAL)


def github_data(text: str) -> str:
    """A workflow-command message: escapeData of actions/toolkit, after :func:`terminal`.

    CR and LF stay meaningful (as ``%0D`` / ``%0A``, which GitHub shows as line breaks inside the
    annotation); every other control character is shown as ``\\xNN``.
    """
    shown = text.translate(_STREAM_CONTROLS)
    shown = shown.replace(_LEGACY_COMMAND, _LEGACY_NEUTRAL)
    return shown.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow-command property value (``file=``, ``title=``): escapeProperty."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start
# emphasis, links, images, code, tables, strikethrough, math and autolinks ("http:") anywhere;
# _BLOCK_START are those that matter only at the start of a line (lists, headings, rules).
_MARKDOWN = {ord(c): "\\" + c for c in "\\`*_{}[]()!|~:$^"}
_MARKDOWN.update({ord("<"): "&lt;", ord(">"): "&gt;", ord("&"): "&amp;", ord('"'): "&quot;"})
_BLOCK_START = re.compile(r"^(\s*)([-+#=]|\d+(?=[.)]))")
_MENTION = re.compile(r"@(?=\w)")


def markdown_text(text: str) -> str:
    """Inline markdown text: no markup, no raw HTML, no autolink and no @mention from ``text``."""
    escaped = terminal(text).translate(_MARKDOWN)
    escaped = _BLOCK_START.sub(lambda m: m.group(1) + _escape_block_start(m.group(2)), escaped)
    # GitHub finds @mentions in the rendered text, after escapes: a word joiner breaks them
    return _MENTION.sub("@\u2060", escaped)


def _escape_block_start(token: str) -> str:
    return token + "\\" if token[0].isdigit() else "\\" + token


def markdown_code(text: str, *, in_table: bool = True) -> str:
    """``text`` as a code span: shown literally, no link, image, HTML or mention inside.

    The fence is one backtick longer than the longest run inside. In a table a ``|`` must still
    be escaped (GFM splits cells before it parses code spans).
    """
    shown = terminal(text)
    if in_table:
        shown = shown.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or not shown.strip() else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def unwrap(stream: TextIO) -> TextIO:
    """The stream under an :class:`InertStream` (for output that writes its own commands)."""
    while isinstance(stream, InertStream):
        stream = stream.target
    return stream


def html_text(text: str) -> str:
    """HTML text or attribute value, its control characters shown as in :func:`terminal`."""
    return html.escape(terminal(text), quote=True)


_SCRIPT_UNSAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_SCRIPT_UNSAFE.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script>``: no ``</script>``, ``<!--`` or line separator."""
    return json_inert(json.dumps(value, ensure_ascii=False, allow_nan=False)).translate(
        _SCRIPT_UNSAFE
    )


_JSON_INERT = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), *_INVISIBLE)}


def json_inert(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with no raw C1 or invisible character and no ``##[``.

    JSON already escapes C0 controls and line breaks inside strings, so no line of it can start
    with ``::``; this escapes the rest the same way (``\\u009b``, ``##\\u005b``), which
    keeps the document valid and its decoded strings exact.
    """
    if text.isascii() and _LEGACY_COMMAND not in text:
        return text
    return text.translate(_JSON_INERT).replace(_LEGACY_COMMAND, "##\\u005b")


class InertStream(io.TextIOBase):
    """A text stream that writes to ``target`` with no line starting a workflow command.

    It holds back only what cannot be decided yet: the start of a line that is whitespace and
    at most one ``:``. With ``escape_controls`` it also shows control characters as in
    :func:`terminal` (LF and TAB kept, CR kept as the line break that progress bars use); datalint's
    own coloured output goes through a stream without it, its data already escaped.
    """

    def __init__(self, target: TextIO, *, escape_controls: bool = False) -> None:
        super().__init__()
        self.target = target
        self.escape_controls = escape_controls
        self._pending = ""  # undecided start of the current line
        self._at_line_start = True

    # attributes that libraries read off sys.stderr / sys.stdout
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "errors", None)

    def isatty(self) -> bool:
        return bool(getattr(self.target, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.target.fileno()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:  # buffer, mode, name, reconfigure ...
        return getattr(self.target, name)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self.target.write(self._neutralise(text))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            # undecided: a lone ":" might be followed by another one in the next write
            self.target.write(self._pending.replace(":", COLON_ESCAPE))
            self._pending = ""
            self._at_line_start = False
        flush = getattr(self.target, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the target may be closed first
            self.flush()
        super().close()

    def _neutralise(self, text: str) -> str:
        if self.escape_controls and not text.isprintable():
            text = text.translate(_STREAM_CONTROLS)
        if (
            not self._pending
            and _LEGACY_COMMAND not in text
            and not _RISKY_LINE_START.search(text)
            and not (self._at_line_start and text.lstrip()[:1] == ":")
        ):  # the common case: no line of this text can start with ":"
            cut = max(text.rfind("\n"), text.rfind("\r"))
            blank_tail = text[cut + 1 :].strip() == ""
            self._at_line_start = blank_tail and (cut >= 0 or self._at_line_start)
            return text
        out: list[str] = []
        for piece in re.split(r"([\r\n])", text):
            if piece in ("\r", "\n"):
                out.append(self._pending + piece)
                self._pending = ""
                self._at_line_start = True
                continue
            if not piece:
                continue
            if not self._at_line_start:
                out.append(piece.replace(_LEGACY_COMMAND, _LEGACY_NEUTRAL))
                continue
            line = self._pending + piece
            body = line.lstrip()
            lead = line[: len(line) - len(body)]
            if body == "" or body == ":":
                self._pending = line  # cannot tell yet
                continue
            self._pending = ""
            self._at_line_start = False
            if body.startswith("::"):
                body = COLON_ESCAPE + body[1:]
            out.append((lead + body).replace(_LEGACY_COMMAND, _LEGACY_NEUTRAL))
        return "".join(out)
