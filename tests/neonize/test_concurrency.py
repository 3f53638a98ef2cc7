"""Acceptance 4: 120 threads construct, connect (offline), send and stop clients: the process lives.

Without the readers/writer lock this crashes the process with Go's `fatal error: concurrent map
writes` in most runs (docs/experiments/neonize_concurrency.md); so it runs in a subprocess, and a
crash shows here as a failed test rather than a dead pytest.
"""

import subprocess
import sys
from pathlib import Path

from tests.neonize.conftest import closed_port

SCRIPT = Path(__file__).with_name("stress_clients.py")


def test_120_threads_connect_send_stop_under_the_lock_survive_repeatedly(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--threads", "120", "--rounds", "2",
         "--proxy", f"socks5://127.0.0.1:{closed_port()}"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    assert "fatal error" not in run.stderr, tail
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert rounds == [
        "round 1: 120 sends answered (['TransientError'])",
        "round 2: 120 sends answered (['TransientError'])",
    ], tail
    assert run.stdout.splitlines()[-1].startswith("SURVIVED 2 rounds x 120 threads")
