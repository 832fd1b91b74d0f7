"""``python -m datalint``: the same CLI, with the working directory taken off the import path.

``python -m`` puts the current directory first on ``sys.path``, so a ``grading.py`` lying in the
data folder being linted would shadow any module datalint imports later. The entry is removed
before anything else is imported, and ``PYTHONSAFEPATH`` keeps spawned workers (calibrate's
process pool, math-verify's) from adding it back.
"""

import os
import sys


def _strip_working_directory() -> None:
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != here]
    os.environ["PYTHONSAFEPATH"] = "1"


_strip_working_directory()

from datalint.cli import main  # noqa: E402 - must follow the path fix

if __name__ == "__main__":
    main()
