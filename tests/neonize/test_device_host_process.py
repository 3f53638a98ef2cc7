"""The real `dripfleet device-host` with TRANSPORT=neonize, run from .venv-neonize, offline:
its devices show a readable offline error and are retried; the host keeps running and stops
cleanly on SIGTERM."""

import time
import uuid

from sqlalchemy import Engine, text

from tests.device_host.hostproc import HostProcess
from tests.neonize.offline import closed_port


def test_neonize_device_host_offline_keeps_running_and_retries(
    database_url: str, engine: Engine, tmp_path
) -> None:
    with engine.begin() as conn:
        user = conn.execute(text("INSERT INTO users (email, name) VALUES (:e, 'h') RETURNING id"),
                            {"e": f"{uuid.uuid4().hex}@example.com"}).scalar_one()
        devices = [conn.execute(text(
            "INSERT INTO devices (user_id, name, status, pairing_mode) VALUES (:u, :n,"
            " 'pairing', 'qr') RETURNING id"),
            {"u": user, "n": f"real{n}"}).scalar_one() for n in range(2)]
    host = HostProcess(database_url, tmp_path / "host.log", TRANSPORT="neonize",
                       WHATSAPP_PROXY=f"socks5://127.0.0.1:{closed_port()}",
                       DEVICE_START_FAILURE_LIMIT="50")
    try:
        host.wait_info(engine, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            with engine.begin() as conn:
                rows = conn.execute(text(
                    "SELECT start_failures, last_error FROM devices WHERE id = ANY(:ids)"),
                    {"ids": devices}).all()
            if all(r.start_failures >= 2 for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        host.check_running()
        for failures, error in rows:
            assert failures >= 2, (rows, host.tail())
            assert error.startswith("offline: WhatsApp is unreachable from this host"), error
        code, _seconds = host.terminate()
        assert code == 0, host.tail()
    finally:
        host.kill()
    assert "Traceback" not in (tmp_path / "host.log").read_text()
