"""`python -m deploy.parent_guard PARENT_PID COMMAND...`: run COMMAND so that it dies
with its parent.

`onething up` starts every part through this. Linux's parent-death signal survives
exec, so if `up` is killed outright (SIGKILL) the kernel sends the part SIGTERM instead
of leaving it holding the ports. It is set here, in a process of its own before the exec,
rather than in a `preexec_fn`: the supervisor holds threads (a Temporal client's) once it
is up, and running Python between fork and exec in a threaded process can deadlock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1
ORPHANED = 70  # the exit code when the parent was already gone before the guard was set


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m deploy.parent_guard PARENT_PID COMMAND...", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), list(argv[1:])
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died between the fork and the prctl: then no signal comes.
        if os.getppid() != parent:
            return ORPHANED
    os.execvp(command[0], command)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
