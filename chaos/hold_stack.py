"""A chaos stack held up by a process of its own: the other run of the cleanup tests.

    python chaos/hold_stack.py        (PYTHONPATH at the repository)

Prints one JSON line (run id, engine URL, owner identity) once the stack is up, then reads
stdin: "die" ends the process at once, as a run killed hard would, leaving its stack behind;
"close" or the end of stdin removes the stack and exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from servicedown.chaos.owner import Owner
from servicedown.chaos.stack import ChaosStack


def main() -> int:
    stack = ChaosStack(progress=lambda line: print(line, file=sys.stderr, flush=True))
    with stack:
        owner = Owner.from_labels(stack.labels)
        print(json.dumps({"run_id": stack.run_id, "engine_url": stack.engine_url,
                          "pid": os.getpid(), "owner": owner.__dict__ if owner else None}),
              flush=True)
        for line in sys.stdin:
            if line.strip() == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if line.strip() == "close":
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
