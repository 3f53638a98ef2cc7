"""Run real `dripfleet device-host` processes for the process-level tests."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, text

FAST = {
    "HEALTH_CHECK_SECONDS": "0.3",
    "SIM_LATENCY_SECONDS": "0.02",
    "SIM_PAIR_SECONDS": "0.3",
    "RETRY_BACKOFF_SECONDS": "0.1",
    "DEVICE_HOST_PORT": "0",
    "LOG_LEVEL": "INFO",
}


class HostProcess:
    """One supervisor process with its log file."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        full = {**os.environ, **FAST, "DATABASE_URL": database_url, **env}
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dripfleet.cli", "device-host"], env=full,
            stdout=self.log, stderr=subprocess.STDOUT,
            # its own process group: the whole host (supervisor and workers) can be signalled at
            # once, as when its machine or container dies
            start_new_session=True,
        )

    def info(self, engine: Engine) -> dict | None:
        """The host's heartbeat info (workers, pids, port), once it has one."""
        with engine.begin() as conn:
            row = conn.execute(
                text("SELECT info FROM device_hosts WHERE pid = :pid AND stopped_at IS NULL"),
                {"pid": self.proc.pid},
            ).first()
        if row is None or not row[0].get("workers"):
            return None
        return row[0]

    def wait_info(self, engine: Engine, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.info(engine)
            if info and all(w["alive"] for w in info["workers"]):
                return info
            self.check_running()
            time.sleep(0.1)
        raise AssertionError(f"host never reported live workers:\n{self.tail()}")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"host exited with {self.proc.returncode}:\n{self.tail()}")

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; returns (exit status, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def signal_all(self, sig: signal.Signals) -> None:
        """Send sig to the supervisor and every worker at once (SIGSTOP, SIGKILL)."""
        os.killpg(self.proc.pid, sig)

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


def dumps(info: dict) -> str:
    return json.dumps(info, indent=1)
