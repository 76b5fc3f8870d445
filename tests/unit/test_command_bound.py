"""end_process_group: a child's own process group ends, by SIGTERM or, past the grace, SIGKILL."""

from __future__ import annotations

import subprocess
import sys

from servicedown.backends.command import end_process_group


def _child(code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_child_that_ends_on_sigterm_ends_with_it():
    proc = _child("import time; print('ready', flush=True); time.sleep(30)")
    end_process_group(proc, grace_s=5)
    assert proc.returncode == -15


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace():
    proc = _child("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "print('ready', flush=True); time.sleep(30)")
    end_process_group(proc, grace_s=0.5)
    assert proc.returncode == -9


def test_a_child_already_gone_is_left_alone():
    proc = _child("print('ready', flush=True)")
    proc.wait(timeout=10)
    end_process_group(proc, grace_s=0.5)
    assert proc.returncode == 0
