"""``python -m datalint``: the same CLI, with the working directory taken off the import path.

``python -m`` puts the current directory first on ``sys.path``, so a ``grading.py`` lying in the
data folder being linted would shadow any module datalint imports later. That implicit first
entry is removed before anything else is imported (entries the user put on ``PYTHONPATH`` stay),
and ``PYTHONSAFEPATH`` keeps spawned workers (calibrate's process pool, math-verify's) from adding
it back.
"""

import os
import sys


def _strip_working_directory() -> None:
    if not sys.flags.safe_path and sys.path:  # under `python -P -m` there is nothing to strip
        first = sys.path[0]
        if first in ("", ".") or os.path.abspath(first) == os.getcwd():
            del sys.path[0]
    os.environ["PYTHONSAFEPATH"] = "1"


_strip_working_directory()

from datalint.cli import main  # noqa: E402 - must follow the path fix

if __name__ == "__main__":
    main()
