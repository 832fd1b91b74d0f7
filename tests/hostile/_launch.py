"""Run a command as a grandchild and report its own peak RSS.

A child forked from the test process starts with that process's pages counted in its resident
set, and ``ru_maxrss`` keeps that high-water mark across ``exec``: a datalint run forked from a
pytest that has loaded torch reads as hundreds of MB it never used. This launcher is small, so a
command forked from it is measured alone::

    python _launch.py RSS_FILE COMMAND ARGS...

writes the command's peak RSS in KiB to RSS_FILE and exits as the command did (the same exit code,
or the same signal).
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    rss_file, command = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    # the child shares this process group: a signal to the group reaches both
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    with open(rss_file, "w", encoding="ascii") as fh:
        fh.write(str(usage.ru_maxrss))
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
