"""Acceptance 4: 150 threads construct, connect (offline), send and stop clients: the process lives.

Without the readers/writer lock the same run crashes the process with Go's `fatal error:
concurrent map writes` (in `Stop`) in most runs (docs/experiments/neonize_concurrency.md); so it
runs in a subprocess, and a crash shows here as a failed test rather than a dead pytest.
The clients dial WhatsApp directly when its name does not resolve here (this CI: the path on which
the lock-less run crashes); on a machine with internet they dial through a closed local proxy, so
the test never reaches WhatsApp.
"""

import socket
import subprocess
import sys
from pathlib import Path

from tests.neonize.offline import closed_port

SCRIPT = Path(__file__).with_name("stress_clients.py")
THREADS = 150


def _offline_dial() -> list[str]:
    try:
        socket.getaddrinfo("web.whatsapp.com", 443)
    except socket.gaierror:
        return []
    return ["--proxy", f"socks5://127.0.0.1:{closed_port()}"]


def test_150_threads_connect_send_stop_under_the_lock_survive_repeatedly(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--threads", str(THREADS), "--rounds", "2",
         *_offline_dial()],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    assert "fatal error" not in run.stderr, tail
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert rounds == [
        f"round 1: {THREADS} sends answered (['TransientError'])",
        f"round 2: {THREADS} sends answered (['TransientError'])",
    ], tail
    assert run.stdout.splitlines()[-1].startswith(f"SURVIVED 2 rounds x {THREADS} threads")
