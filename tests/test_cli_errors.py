"""The one place that turns failures into a one-line message and an exit code, called directly."""

from __future__ import annotations

import pytest

from datalint.cli import errors
from datalint.errors import DatalintError


def test_exit_codes_are_the_documented_ones() -> None:
    assert (errors.EXIT_PASS, errors.EXIT_FAIL, errors.EXIT_USAGE, errors.EXIT_INTERRUPTED) == (
        0,
        1,
        2,
        130,
    )


def test_a_note_is_one_escaped_line_on_stderr(capsys) -> None:
    errors.echo_note("read d.jsonl\x1b[2J")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("datalint: read d.jsonl") and "\x1b" not in err and err.endswith("\n")
    assert err.count("\n") == 1


def test_fail_writes_one_line_and_exits_with_the_code(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        errors.fail("no such file: d.jsonl")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "datalint: error: no such file: d.jsonl\n"
    with pytest.raises(SystemExit) as stop:
        errors.fail("x", code=1)
    assert stop.value.code == 1


def _run(exc: BaseException, **kw) -> tuple[object, str]:
    with pytest.raises(SystemExit) as stop, errors.friendly_errors(**kw):
        raise exc
    return stop.value.code, ""


def test_friendly_errors_map_each_failure_to_its_exit(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DATALINT_DEBUG", raising=False)
    assert _run(DatalintError("bad config"))[0] == 2
    assert capsys.readouterr().err == "datalint: error: bad config\n"
    assert _run(KeyboardInterrupt())[0] == 130
    assert capsys.readouterr().err == "datalint: interrupted\n"
    assert _run(KeyboardInterrupt(), on_interrupt=lambda: "3 of 9 cohorts done")[0] == 130
    assert capsys.readouterr().err == "datalint: interrupted; 3 of 9 cohorts done\n"
    assert _run(KeyboardInterrupt(), on_interrupt=lambda: "")[0] == 130
    assert capsys.readouterr().err == "datalint: interrupted\n"
    assert _run(BrokenPipeError())[0] == 1
    assert _run(ValueError("boom"))[0] == 2
    assert capsys.readouterr().err == (
        "datalint: error: internal error: ValueError: boom "
        "(set DATALINT_DEBUG=1 for a traceback and please report it)\n"
    )
    assert _run(SystemExit(7))[0] == 7


def test_debug_lets_an_internal_error_through(monkeypatch) -> None:
    monkeypatch.setenv("DATALINT_DEBUG", "1")
    with pytest.raises(ValueError, match="boom"), errors.friendly_errors():
        raise ValueError("boom")
    with pytest.raises(SystemExit), errors.friendly_errors():
        raise DatalintError("still one line")
